"""Adapters: the only places that import sqlite3, httpx (for deliveries) or boto3."""
