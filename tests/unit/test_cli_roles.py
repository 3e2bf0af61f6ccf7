"""The CLI's spelled-out role names stay those of the model."""

from app.cli.auth import ROLES
from dpo.db.models.enums import Role


def test_cli_roles_are_the_model_roles() -> None:
    assert sorted(ROLES) == sorted(role.value for role in Role)
