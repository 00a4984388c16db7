"""Mapped classes shared by the ORM acceptance tests.

Written exactly the way DESIGN.md §4 shows users writing models (string forward
references inside ``Mapped[...]``, no ``from __future__ import annotations``), so
the tests exercise the declared form, not a test-only variant. Every table name
starts with ``orm_`` so nothing here collides with tables of other test folders.

``Base`` holds the everyday schema; ``GraphBase`` is a separate, small schema
for the property-based test (3 mapped tables, one self-referential, plus a
many-to-many association table).
"""

from heron import Column, ForeignKey, Integer, String, Table
from heron.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


# --- the seeds' User / Address (one-to-many, back_populates, delete-orphan) ---


class User(Base):
    __tablename__ = "orm_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30))
    fullname: Mapped[str | None]
    addresses: Mapped[list["Address"]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )
    # one-to-one
    profile: Mapped["Profile"] = relationship(
        back_populates="user", uselist=False, cascade="all, delete-orphan"
    )
    # one-to-many with the default cascade ("save-update, merge") and a nullable FK
    posts: Mapped[list["Post"]] = relationship(back_populates="author")


class Address(Base):
    __tablename__ = "orm_address"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_address: Mapped[str]
    user_id: Mapped[int] = mapped_column(ForeignKey("orm_user.id"))
    user: Mapped["User"] = relationship(back_populates="addresses")


class Profile(Base):
    __tablename__ = "orm_profile"

    id: Mapped[int] = mapped_column(primary_key=True)
    bio: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int] = mapped_column(ForeignKey("orm_user.id"), unique=True)
    user: Mapped["User"] = relationship(back_populates="profile")


# --- many-to-many through a classic association Table ---

post_tag = Table(
    "orm_post_tag",
    Base.metadata,
    Column("post_id", Integer, ForeignKey("orm_post.id"), primary_key=True),
    Column("tag_id", Integer, ForeignKey("orm_tag.id"), primary_key=True),
)


class Post(Base):
    __tablename__ = "orm_post"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("orm_user.id"))
    author: Mapped["User"] = relationship(back_populates="posts")
    tags: Mapped[list["Tag"]] = relationship(secondary=post_tag, back_populates="posts")


class Tag(Base):
    __tablename__ = "orm_tag"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    posts: Mapped[list["Post"]] = relationship(secondary=post_tag, back_populates="tags")


# --- self-referential adjacency list ---


class Node(Base):
    __tablename__ = "orm_node"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(50))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("orm_node.id"))
    parent: Mapped["Node"] = relationship(back_populates="children", remote_side=[id])
    children: Mapped[list["Node"]] = relationship(back_populates="parent")


class Person(Base):
    """Self-referential many-to-one whose row cycles are broken by post_update."""

    __tablename__ = "orm_person"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    best_friend_id: Mapped[int | None] = mapped_column(ForeignKey("orm_person.id"))
    best_friend: Mapped["Person"] = relationship(remote_side=[id], post_update=True)


# --- the classic Column(...) attribute form ---


class Widget(Base):
    __tablename__ = "orm_widget"

    id = Column(Integer, primary_key=True)
    label = Column(String(60), nullable=False, unique=True)
    weight = Column(Integer)


# --- a mixin providing columns to two models ---


class AuditMixin:
    id: Mapped[int] = mapped_column(primary_key=True)
    created_by: Mapped[str] = mapped_column(String(30), default="system")


class Note(AuditMixin, Base):
    __tablename__ = "orm_note"

    body: Mapped[str] = mapped_column(String(200))


class Memo(AuditMixin, Base):
    __tablename__ = "orm_memo"

    subject: Mapped[str] = mapped_column(String(200))


# --- passive_deletes: the database removes the children (ON DELETE CASCADE) ---


class Folder(Base):
    __tablename__ = "orm_folder"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    documents: Mapped[list["Document"]] = relationship(
        back_populates="folder", cascade="all, delete-orphan", passive_deletes=True
    )


class Document(Base):
    __tablename__ = "orm_document"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(40))
    folder_id: Mapped[int] = mapped_column(ForeignKey("orm_folder.id", ondelete="CASCADE"))
    folder: Mapped["Folder"] = relationship(back_populates="documents")


# --- a NOT NULL foreign key on a child whose parent has no delete-orphan ---


class Invoice(Base):
    __tablename__ = "orm_invoice"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20))
    lines: Mapped[list["InvoiceLine"]] = relationship(back_populates="invoice")


class InvoiceLine(Base):
    __tablename__ = "orm_invoice_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    description: Mapped[str] = mapped_column(String(50))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("orm_invoice.id"), nullable=False)
    invoice: Mapped["Invoice"] = relationship(back_populates="lines")


# --- property-test schema (separate metadata) ---


class GraphBase(DeclarativeBase):
    pass


g_node_item = Table(
    "orm_g_node_item",
    GraphBase.metadata,
    Column("node_id", Integer, ForeignKey("orm_g_node.id"), primary_key=True),
    Column("item_id", Integer, ForeignKey("orm_g_item.id"), primary_key=True),
)


class GOwner(GraphBase):
    __tablename__ = "orm_g_owner"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    items: Mapped[list["GItem"]] = relationship(
        back_populates="owner", cascade="all, delete-orphan"
    )


class GItem(GraphBase):
    __tablename__ = "orm_g_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(40))
    owner_id: Mapped[int] = mapped_column(ForeignKey("orm_g_owner.id"))
    owner: Mapped["GOwner"] = relationship(back_populates="items")
    nodes: Mapped[list["GNode"]] = relationship(secondary=g_node_item, back_populates="items")


class GNode(GraphBase):
    __tablename__ = "orm_g_node"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(40))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("orm_g_node.id"))
    parent: Mapped["GNode"] = relationship(back_populates="children", remote_side=[id])
    children: Mapped[list["GNode"]] = relationship(back_populates="parent")
    items: Mapped[list["GItem"]] = relationship(secondary=g_node_item, back_populates="nodes")
