"""Statistics: charts of the farm over time."""

from django.urls import path

from farm.web.views.pending import pending

urlpatterns = [
    path("statistics/", pending, name="statistics"),
]
