"""The operator's layer: the `recsys` command line, the demo and kernel warm-up.

It stands above everything it drives (trunk, training, serving); nothing imports it.
"""
