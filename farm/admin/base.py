"""Building blocks shared by the farm's admin modules."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten
from django.core.paginator import Paginator
from django.db.models import (
    Count,
    IntegerField,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils.functional import cached_property
from django.utils.translation import ngettext

from farm.validators import parse_id

# Large enough to page through every task of an ordinary job, small enough that
# counting that many index entries costs a few milliseconds.
COUNT_CAP = 100_000


def count_of(rows: QuerySet[Any], *, pointing_at: str) -> Coalesce:
    """An annotation: how many of ``rows`` point at the outer row through a FK.

    ``count_of(Task.objects.filter(state="done"), pointing_at="job")`` on jobs
    is each job's number of done tasks. It is a correlated subquery, where a
    JOIN with ``Count(filter=Q(...))`` would group by the outer row: the latter
    makes the changelist's COUNT and every page read all the tasks of the
    farm, while a subquery reads, through the FK's index, only the rows of the
    objects the page shows.
    """
    counted = (
        rows.filter(**{pointing_at: OuterRef("pk")})
        .order_by()
        .values(pointing_at)
        .annotate(count=Count("*"))
        .values("count")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


class CappedCountPaginator(Paginator):
    """A paginator that counts at most ``cap`` rows.

    The changelist counts its rows to draw the page links. On tables of millions
    of rows (tasks, logs, statistics) a plain ``COUNT(*)`` reads all of them on
    every page view; counting a LIMITed subquery reads at most ``cap``. A longer
    list offers ``cap`` rows' worth of pages: filter or search to reach the rest.
    """

    cap = COUNT_CAP

    @cached_property
    def count(self) -> int:
        """The number of rows, or ``cap`` when there are more."""
        object_list = self.object_list
        if isinstance(object_list, QuerySet):
            return object_list.order_by().values("pk")[: self.cap].count()
        return min(len(object_list), self.cap)


class FarmModelAdmin(admin.ModelAdmin):
    """Base of the farm's admins.

    - ``id_search_fields``: a number typed in the search box also matches these
      integer fields exactly (an index lookup, where ``=id`` would compare text);
    - ``save_changed_fields_only``: saving a changed object writes only the
      fields the admin changed, so that it does not write back stale values of
      the fields the scheduler and the agents keep changing (state, progress,
      timestamps) while the form was open.
    """

    id_search_fields: tuple[str, ...] = ()
    save_changed_fields_only = False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        """The text search of ``search_fields``, plus ids for a number."""
        results, may_have_duplicates = super().get_search_results(
            request, queryset, search_term
        )
        term = search_term.strip()
        number = parse_id(term)
        if self.id_search_fields and number is not None:
            by_id = Q.create(
                [(field, number) for field in self.id_search_fields],
                connector=Q.OR,
            )
            results |= queryset.filter(by_id)
        return results, may_have_duplicates

    def save_model(
        self, request: HttpRequest, obj: Any, form: ModelForm, change: bool
    ) -> None:
        """Save the object; see ``save_changed_fields_only``."""
        if not (change and self.save_changed_fields_only):
            super().save_model(request, obj, form, change)
            return
        columns = {field.name for field in obj._meta.concrete_fields}
        changed = [name for name in form.changed_data if name in columns]
        if changed:
            obj.save(update_fields=changed)

    def report(
        self,
        request: HttpRequest,
        count: int,
        singular: str,
        plural: str,
        *,
        nothing: str,
    ) -> None:
        """Tell the admin how many objects an action changed; warn when none.

        ``singular`` and ``plural`` contain ``%(count)d``.
        """
        if count:
            text = ngettext(singular, plural, count) % {"count": count}
            self.message_user(request, text, messages.SUCCESS)
        else:
            self.message_user(request, nothing, messages.WARNING)


class LargeTableAdmin(FarmModelAdmin):
    """Base of the admins of tables that grow to millions of rows.

    The changelist never counts the whole table (`CappedCountPaginator`,
    ``show_full_result_count``); subclasses keep ``list_filter`` to fields
    whose filters need no query (choices, booleans, dates).
    """

    paginator = CappedCountPaginator
    show_full_result_count = False


class ReadOnlyTabularInline(admin.TabularInline):
    """A table of related objects to look at; changes go through their own page.

    Subclasses set ``fields``; they are all shown read-only.
    """

    extra = 0
    can_delete = False
    show_change_link = True

    def get_readonly_fields(
        self, request: HttpRequest, obj: Model | None = None
    ) -> tuple[str, ...]:
        """Every field shown is read-only."""
        return tuple(flatten(self.fields or ()))

    # Inlines also get the parent object; the stubs flag that as an override.
    def has_add_permission(  # type: ignore[override]
        self, request: HttpRequest, obj: Model | None
    ) -> bool:
        """Related objects are not added from here."""
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: Model | None = None
    ) -> bool:
        """Related objects are not changed from here."""
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: Model | None = None
    ) -> bool:
        """Related objects are not deleted from here."""
        return False
