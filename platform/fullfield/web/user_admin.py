"""The workspace's people, as a tenant admin manages them: invite, role and level, deactivate.

A person is a user (who signs in) with a squads member profile (functional role, permission
level). The admin level and the workspace-admin flag are one thing here: a user at the admin
level is a tenant admin (staff), and a lower level takes that away, so the page never shows
a level that the permission checks do not apply.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import transaction
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from apps.squads.models import Member, PermissionLevel
from apps.squads.services import member_create, member_update
from fullfield.errors import Conflict, DomainError
from fullfield.users.models import User


@dataclass(frozen=True)
class Person:
    user: User
    member: Member | None

    @property
    def level(self) -> str:
        if self.user.is_staff:
            return PermissionLevel.ADMIN
        return self.member.permission_level if self.member else PermissionLevel.READ_ONLY

    @property
    def role(self) -> str:
        return self.member.role if self.member else ""


def people_list() -> list[Person]:
    users = User.objects.select_related("squad_member").order_by("-is_active", Lower("email"))
    return [Person(user=user, member=getattr(user, "squad_member", None)) for user in users]


def _invitation_link(user: User, base_url: str) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return base_url + reverse("password_reset_confirm", args=[uid, token])


@transaction.atomic
def user_invite(
    *, email: str, full_name: str, role: str, level: str, invited_by: User, base_url: str
) -> User:
    """A new user with no password yet, their member profile, and an email to choose one."""
    email = User.objects.normalize_email(email).lower()
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict(
            f"{email} already has an account here.", fields={"email": ["Already a user here."]}
        )
    user = User.objects.create_user(
        email, None, full_name=full_name, is_staff=level == PermissionLevel.ADMIN
    )
    member_create(user=user, data={"role": role, "permission_level": level})
    link = _invitation_link(user, base_url)
    transaction.on_commit(
        lambda: send_mail(
            subject=f"{invited_by.display_name} invited you to Fullfield",
            message=(
                f"{invited_by.display_name} added you to their Fullfield workspace.\n\n"
                f"Choose your password here to sign in:\n{link}\n\n"
                "The link works once and expires in a few days."
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[user.email],
        )
    )
    return user


@transaction.atomic
def user_access_set(*, user: User, role: str, level: str, by: User) -> User:
    """Change a person's functional role and permission level."""
    if user.pk == by.pk and level != PermissionLevel.ADMIN:
        raise DomainError(
            "You cannot lower your own level: another admin has to.",
            fields={"level": ["Not for yourself."]},
        )
    user = User.objects.select_for_update().get(pk=user.pk)
    member = Member.objects.filter(user=user).first()
    data = {"role": role, "permission_level": level}
    if member is None:
        member_create(user=user, data=data)
    else:
        member_update(member=member, data=data)
    is_admin = level == PermissionLevel.ADMIN
    if user.is_staff != is_admin:
        user.is_staff = is_admin
        user.save(update_fields=["is_staff"])
    return user


@transaction.atomic
def user_active_set(*, user: User, active: bool, by: User) -> User:
    """Deactivate (they can no longer sign in, and get no new items) or reactivate a person."""
    if user.pk == by.pk and not active:
        raise DomainError("You cannot deactivate yourself.")
    user = User.objects.select_for_update().get(pk=user.pk)
    user.is_active = active
    user.save(update_fields=["is_active"])
    member = Member.objects.filter(user=user).first()
    if member is not None:
        member_update(member=member, data={"is_available": active})
    return user
