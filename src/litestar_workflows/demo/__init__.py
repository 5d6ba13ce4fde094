"""A runnable demo: ``python -m litestar_workflows.demo`` serves three workflows on http://127.0.0.1:8000.

See :mod:`litestar_workflows.demo.app` for the app and :mod:`litestar_workflows.demo.workflows`
for the workflows. Importing this package does not build the app.
"""
