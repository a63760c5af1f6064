"""Tickets over HTTP: create, list, count, export, read, change, comment."""
