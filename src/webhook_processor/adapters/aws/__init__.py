"""The AWS adapters: the only modules of the AWS runtime that import boto3 (names.py does not)."""
