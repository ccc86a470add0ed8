"""Post-call jobs: transcribe, summarize or classify archived calls in bulk, cheaply.

- **transcribe**: each call's recording, channel by channel (caller by default, the agent too on
  request), through ``/v1/audio/transcriptions`` (not a Batch endpoint), a few calls at a time; the
  text is stored as ``source="post"`` transcript segments beside the live ones.
- **summarize** / **classify**: one Batch of ``/v1/responses`` requests over the calls' live transcripts
  (half price, finished within 24 h); results land in the job's items.

The pieces, all re-exported here:

- :mod:`~bridge.archive.jobs_model`: kinds, statuses, checking a submission, the API form.
- :mod:`~bridge.archive.jobs_api`: ``/api/jobs`` routes (``jobs_endpoints``, ``JOB_SCHEMAS``) and the
  operations behind them (``submit_job``, ``cancel_job``).
- :mod:`~bridge.archive.jobs_worker`: :class:`JobWorker`, which does the work in the background.

Wiring, in the app factory::

    worker = JobWorker(store, lambda: OpenAIClient(api_key, base_url))
    api = create_api_app(store, ..., extra_routes=jobs_endpoints(notify=worker.wake), extra_schemas=JOB_SCHEMAS)
    # lifespan: await worker.start() ... await worker.close()
"""

from __future__ import annotations

from bridge.archive.jobs_api import JOB_SCHEMAS, JobFinished, cancel_job, jobs_endpoints, submit_job
from bridge.archive.jobs_model import (
    DEFAULT_MODELS,
    FINAL_STATUSES,
    KINDS,
    STATUSES,
    JobRequest,
    JobRequestError,
    job_to_json,
    parse_labels,
)
from bridge.archive.jobs_worker import JobWorker

__all__ = [
    "DEFAULT_MODELS",
    "FINAL_STATUSES",
    "JOB_SCHEMAS",
    "KINDS",
    "STATUSES",
    "JobFinished",
    "JobRequest",
    "JobRequestError",
    "JobWorker",
    "cancel_job",
    "job_to_json",
    "jobs_endpoints",
    "parse_labels",
    "submit_job",
]
