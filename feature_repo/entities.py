"""Entities: the keys features are looked up by (all ids are strings, see docs/contracts.md)."""

from feast import Entity, ValueType

user_entity = Entity(
    name="user",
    join_keys=["user_id"],
    value_type=ValueType.STRING,
    description="A user; sources without users set user_id = session_id (anonymous sessions).",
)

item_entity = Entity(
    name="item",
    join_keys=["item_id"],
    value_type=ValueType.STRING,
    description="An item (product, movie, article) as identified by the event source.",
)

session_entity = Entity(
    name="session",
    join_keys=["session_id"],
    value_type=ValueType.STRING,
    description="A session: the source's id, or user_id#n split by the inactivity gap.",
)
