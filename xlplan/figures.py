"""The figures a committee reads per service: actions, count per rating, open, overdue,
complete %. One computation, used by the Summary sheet, the Progress sheet's history of
cycles and the committee pack, so none of them can disagree about the same master."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from .excel import display
from .plan import Plan
from .progress import is_complete, overdue_since


@dataclass
class ServiceFigures:
    service: str
    actions: int = 0
    # Per rating of the layout's scale, in the scale's order.
    ratings: dict[str, int] = field(default_factory=dict)
    not_rated: int = 0
    overdue: int = 0
    complete: int = 0

    @property
    def open(self) -> int:
        return self.actions - self.complete

    @property
    def complete_pct(self) -> float:
        return self.complete / self.actions if self.actions else 0.0


def service_figures(plan: Plan, as_of: dt.date) -> list[ServiceFigures]:
    """Per service (in the order the plan first names them), each action it owns counted once;
    an action routed to two services counts for both."""
    layout = plan.layout
    routes, _ = plan.routes()
    rating_field = layout.service_rating
    scale = layout.rating_values
    figures: dict[str, ServiceFigures] = {}
    for action in plan.actions:
        written = display(action.get(rating_field)) if rating_field else ""
        rating = layout.rating_value(written)  # an alias counts as its value
        done = is_complete(action.values, layout)
        late = not done and overdue_since(action.values, layout, as_of) is not None
        for service in routes[action.id]:
            row = figures.get(service)
            if row is None:
                row = figures[service] = ServiceFigures(service, ratings={v: 0 for v in scale})
            row.actions += 1
            if rating in row.ratings:
                row.ratings[rating] += 1
            else:
                row.not_rated += 1
            row.complete += done
            row.overdue += late
    return list(figures.values())


def total_figures(rows: list[ServiceFigures], scale: list[str]) -> ServiceFigures:
    total = ServiceFigures("Total", ratings={v: 0 for v in scale})
    for row in rows:
        total.actions += row.actions
        total.not_rated += row.not_rated
        total.overdue += row.overdue
        total.complete += row.complete
        for value, count in row.ratings.items():
            if value in total.ratings:
                total.ratings[value] += count
            else:
                total.not_rated += count
    return total
