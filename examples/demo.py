"""heron in one minute, on SQLite (no server needed).

Run: bash scripts/run.sh demo
Shows: declarative models, the unit of work (one batched INSERT per table,
generated keys back on the objects), the identity map, relationships loaded
only when awaited, no hidden I/O, rollback, and the statements heron sends.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

import heron
from heron import ForeignKey, String, create_engine, exc, select
from heron.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30))
    fullname: Mapped[str | None]
    addresses: Mapped[list[Address]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r})"


class Address(Base):
    __tablename__ = "address"
    id: Mapped[int] = mapped_column(primary_key=True)
    email_address: Mapped[str]
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    user: Mapped[User] = relationship(back_populates="addresses")

    def __repr__(self) -> str:
        return f"Address(id={self.id!r}, email_address={self.email_address!r})"


def show(title: str) -> None:
    print(f"\n== {title}")


async def main() -> None:
    path = Path(tempfile.mkdtemp()) / "demo.db"
    engine = create_engine(f"sqlite:///{path}")
    Session = sessionmaker(engine)
    await Base.metadata.create_all(engine)

    # print every statement heron sends
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("   SQL> %(message)s"))
    sql_logger = logging.getLogger("heron.engine")
    sql_logger.addHandler(handler)
    sql_logger.setLevel(logging.INFO)

    async with Session() as session:
        show("add objects: no I/O yet")
        spongebob = User(
            name="spongebob",
            fullname="Spongebob Squarepants",
            addresses=[Address(email_address="spongebob@sqlalchemy.org")],
        )
        sandy = User(
            name="sandy",
            fullname="Sandy Cheeks",
            addresses=[
                Address(email_address="sandy@sqlalchemy.org"),
                Address(email_address="sandy@squirrelpower.org"),
            ],
        )
        session.add_all([spongebob, sandy, User(name="patrick", fullname="Patrick Star")])
        print("   pending:", session.new)
        print("   state of spongebob:", heron.inspect(spongebob))

        show("flush: one INSERT per table, keys come back")
        await session.flush()
        print("   ids:", spongebob.id, sandy.id, [a.id for a in sandy.addresses])

        show("commit")
        await session.commit()

    async with Session() as session:
        show("query: objects through the identity map")
        users = (await session.scalars(select(User).order_by(User.id))).all()
        print("  ", users)
        again = await session.get(User, users[0].id)
        print("   get() answered from the identity map:", again is users[0])

        show("no hidden I/O: a lazy relationship must be awaited")
        try:
            users[1].addresses  # noqa: B018 - reading it is the point
        except exc.UnloadedAttributeError as error:
            print("   UnloadedAttributeError:", str(error).split(";")[0])
        addresses = await users[1].awaitable_attrs.addresses
        print("   awaited:", addresses)

        show("change, then roll back")
        users[0].fullname = "changed"
        print("   dirty:", session.dirty)
        await session.rollback()
        print("   expired after rollback:", heron.inspect(users[0]).expired_attributes)
        await session.refresh(users[0])
        print("   refreshed:", users[0].fullname)

        show("delete with cascade")
        await session.delete(users[1])
        await session.commit()
        left = (await session.scalars(select(Address).order_by(Address.id))).all()
        print("   addresses left:", left)

    await engine.dispose()
    print("\ndone: database file was", path)


if __name__ == "__main__":
    asyncio.run(main())
