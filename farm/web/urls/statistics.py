"""Statistics: charts of the farm over time."""

from django.urls import path

from farm.web.views.statistics import statistics

urlpatterns = [
    path("statistics/", statistics, name="statistics"),
]
