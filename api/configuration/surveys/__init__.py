"""Surveys: where responses come from, each with its webhook secret."""
