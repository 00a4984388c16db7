"""Models whose relationships declare loader defaults (``lazy=``, ``order_by=``).

A separate ``LoadBase`` (its own metadata, tables prefixed ``ld_``) so these
defaults never change how tests using ``models.Base`` load. Tables are created
by the ``ld_engine`` fixtures of the loading tests.
"""

from heron import ForeignKey, ForeignKeyConstraint, String
from heron.orm import DeclarativeBase, Mapped, mapped_column, relationship


class LoadBase(DeclarativeBase):
    pass


class LUser(LoadBase):
    """``addresses``: selectin, newest e-mail first; ``notes`` raise; ``badges`` never load."""

    __tablename__ = "ld_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30))
    addresses: Mapped[list["LAddress"]] = relationship(
        back_populates="user", lazy="selectin", order_by=lambda: LAddress.email.desc()
    )
    notes: Mapped[list["LNote"]] = relationship(back_populates="user", lazy="raise")
    badges: Mapped[list["LBadge"]] = relationship(back_populates="user", lazy="noload")


class LAddress(LoadBase):
    """``user`` loads by a JOIN in the same statement."""

    __tablename__ = "ld_address"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(50))
    user_id: Mapped[int] = mapped_column(ForeignKey("ld_user.id"))
    user: Mapped["LUser"] = relationship(back_populates="addresses", lazy="joined")


class LNote(LoadBase):
    __tablename__ = "ld_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(String(50))
    user_id: Mapped[int] = mapped_column(ForeignKey("ld_user.id"))
    user: Mapped["LUser"] = relationship(back_populates="notes")


class LBadge(LoadBase):
    __tablename__ = "ld_badge"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(50))
    user_id: Mapped[int] = mapped_column(ForeignKey("ld_user.id"))
    user: Mapped["LUser"] = relationship(back_populates="badges")


class LNode(LoadBase):
    """Self-referential tree whose children load by selectin, ordered by label."""

    __tablename__ = "ld_node"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(50))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("ld_node.id"))
    parent: Mapped["LNode"] = relationship(back_populates="children", remote_side=[id])
    children: Mapped[list["LNode"]] = relationship(
        back_populates="parent", lazy="selectin", order_by=lambda: LNode.label
    )


class LJNode(LoadBase):
    """Self-referential tree whose children load by a JOIN (one level, then selectin)."""

    __tablename__ = "ld_jnode"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(50))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("ld_jnode.id"))
    children: Mapped[list["LJNode"]] = relationship(lazy="joined", order_by=lambda: LJNode.label)


# --- composite primary key / foreign key ---


class LOrder(LoadBase):
    __tablename__ = "ld_order"

    region: Mapped[str] = mapped_column(String(10), primary_key=True)
    number: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    lines: Mapped[list["LOrderLine"]] = relationship(back_populates="order")


class LOrderLine(LoadBase):
    __tablename__ = "ld_order_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    item: Mapped[str] = mapped_column(String(30))
    order_region: Mapped[str] = mapped_column(String(10))
    order_number: Mapped[int]
    order: Mapped["LOrder"] = relationship(back_populates="lines")

    __table_args__ = (
        ForeignKeyConstraint(
            ["order_region", "order_number"], ["ld_order.region", "ld_order.number"]
        ),
    )
