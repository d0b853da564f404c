"""Fine-tuning routes, mounted under /api/v1/ (config/urls.py)."""

from __future__ import annotations

from django.urls import path

from . import api

finetune_api_patterns = [
    path("finetune/datasets", api.DatasetsView.as_view(), name="finetune-datasets"),
    path(
        "finetune/datasets/<str:dataset_id>",
        api.DatasetDetailView.as_view(),
        name="finetune-dataset",
    ),
    path("finetune/jobs", api.JobsView.as_view(), name="finetune-jobs"),
    path("finetune/jobs/<str:job_id>", api.JobDetailView.as_view(), name="finetune-job"),
    path("finetune/jobs/<str:job_id>/start", api.JobStartView.as_view(), name="finetune-job-start"),
    path(
        "finetune/jobs/<str:job_id>/cancel", api.JobCancelView.as_view(), name="finetune-job-cancel"
    ),
    path(
        "finetune/jobs/<str:job_id>/resume", api.JobResumeView.as_view(), name="finetune-job-resume"
    ),
    path("finetune/jobs/<str:job_id>/log", api.JobLogView.as_view(), name="finetune-job-log"),
    path(
        "finetune/jobs/<str:job_id>/register",
        api.JobRegisterView.as_view(),
        name="finetune-job-register",
    ),
]
