"""The report queue's task. The worker (`manage.py db_worker --queue-name reports`)
imports it by path; the function only calls the service."""

from django_tasks import task

from chatrooms.reports import services


@task(queue_name="reports")
def build_report(report_id: str) -> str:
    report = services.report_build(report_id=report_id)
    return report.status if report is not None else "missing"
