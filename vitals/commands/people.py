"""``vitals users add|list`` and ``vitals contacts add|list``."""

from __future__ import annotations

import argparse

from storage.repositories.people import (
    add_contact,
    add_user,
    contacts_in_order,
    find_user,
    list_users,
    mask_phone,
)
from vitals.commands.common import Subparsers, add_command, open_database
from vitals.errors import VitalsError
from vitals.settings import Settings


def register(subparsers: Subparsers) -> None:
    users = add_command(subparsers, "users", _usage, "register and list users")
    user_actions = users.add_subparsers(dest="users_action", metavar="ACTION", required=True)
    add = add_command(
        user_actions, "add", _add_user, "register a user; prints the new id", database=True
    )
    add.add_argument("--open-id", required=True, help="the app's OAuth identifier (unique)")
    add.add_argument("--name", help="display name used in texts")
    add.add_argument("--email")
    add_command(user_actions, "list", _list_users, "list users", database=True)

    contacts = add_command(subparsers, "contacts", _usage, "manage emergency contacts")
    contact_actions = contacts.add_subparsers(
        dest="contacts_action", metavar="ACTION", required=True
    )
    add = add_command(
        contact_actions, "add", _add_contact, "add an emergency contact", database=True
    )
    add.add_argument("--user", type=int, required=True, help="user id")
    add.add_argument("--name", required=True)
    add.add_argument("--phone", required=True, help="E.164, e.g. +14155550123")
    add.add_argument("--relationship")
    add.add_argument("--primary", action="store_true", help="texted first")
    add.add_argument("--time-zone", help="IANA zone for times in texts, e.g. Europe/Paris")
    listing = add_command(
        contact_actions, "list", _list_contacts, "list a user's contacts", database=True
    )
    listing.add_argument("--user", type=int, required=True)


def _usage(args: argparse.Namespace, settings: Settings) -> int:
    return 2


def _add_user(args: argparse.Namespace, settings: Settings) -> int:
    _, sessions = open_database(settings)
    with sessions.begin() as session:
        user = add_user(session, open_id=args.open_id, name=args.name, email=args.email)
        print(user.id)
    return 0


def _list_users(args: argparse.Namespace, settings: Settings) -> int:
    _, sessions = open_database(settings)
    with sessions() as session:
        users = list_users(session)
    if not users:
        print("no users (add one with `vitals users add`)")
        return 0
    print("id\topenId\tname")
    for user in users:
        print(f"{user.id}\t{user.openId}\t{user.name or ''}")
    return 0


def _add_contact(args: argparse.Namespace, settings: Settings) -> int:
    _, sessions = open_database(settings)
    with sessions.begin() as session:
        contact = add_contact(
            session,
            user_id=args.user,
            name=args.name,
            phone=args.phone,
            relationship=args.relationship,
            is_primary=args.primary,
            time_zone=args.time_zone,
        )
        print(contact.id)
    return 0


def _list_contacts(args: argparse.Namespace, settings: Settings) -> int:
    _, sessions = open_database(settings)
    with sessions() as session:
        if find_user(session, args.user) is None:
            raise VitalsError(f"user {args.user} does not exist (see `vitals users list`)")
        contacts = contacts_in_order(session, args.user)
    if not contacts:
        print(f"user {args.user} has no emergency contact")
        return 0
    print("id\tname\tphone\tprimary")
    for contact in contacts:
        primary = "primary" if contact.isPrimary else ""
        print(f"{contact.id}\t{contact.name}\t{mask_phone(contact.phone)}\t{primary}")
    return 0
