"""Adapters: the only places that import sqlite3 or boto3."""
