"""Tenant isolation in one place: every workspace-owned query goes through these helpers.

An object of another workspace is a 404, indistinguishable from a missing one.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.http import Http404


class WorkspaceOwnedQuerySet(models.QuerySet):
    def for_workspace(self, workspace: Any) -> WorkspaceOwnedQuerySet:
        workspace_id = getattr(workspace, "pk", workspace)
        return self.filter(workspace_id=workspace_id)

    def get_owned(self, workspace: Any, **lookup: Any) -> Any:
        """The object if it belongs to `workspace`, else Http404 (also for a malformed id)."""
        try:
            return self.for_workspace(workspace).get(**lookup)
        except (self.model.DoesNotExist, ValidationError, ValueError, TypeError) as exc:
            raise Http404 from exc
