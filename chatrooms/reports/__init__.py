"""Reports: a room's chat history, poll summaries or poll votes as a CSV file.

A request (the API's `POST /chatrooms/{id}/reports` or the console) writes a `Report`
row and enqueues its build on the task queue (django-tasks with its database backend,
run by `manage.py db_worker`) in one transaction. The worker streams the rows into a
temporary file (a chunked query, a server-side cursor on PostgreSQL), saves it to the
default storage and marks the report SUCCEEDED or FAILED. A signed, expiring link
serves the file (`links`); files older than CHATROOM_REPORT_RETENTION are deleted by
the worker (`services.reports_expire`).

This package imports the room domain; the room domain does not import it.
"""
