"""Batch data-quality monitoring: rules, scores, anomalies, alerts, daily reports."""
