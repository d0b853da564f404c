"""The dashboard's Fine-tune page: upload a dataset (and see its faults), train a model from it,
follow jobs with a live progress bar and log tail. The same services as the API, charged the
same credits (the workspace's own limits, no key)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views import View
from django.views.generic import TemplateView

from accounts.dashboard import WorkspaceMixin
from billing import metering
from billing.metering import Call
from billing.services import catalog_settings
from config import limits
from keys.authentication import workspace_principal
from keys.principal import Principal
from proxy.errors import ApiError
from proxy.pipeline import visible_models

from . import services
from .api import DIGITS, default_model_name, iso, job_object
from .datasets import DatasetInvalid, check_bytes, parse_jsonl
from .models import Dataset, Job, Method

SCOPE = "chat_agent_train"


class UploadForm(forms.Form):
    title = forms.CharField(max_length=200, required=False, help_text="default: the file's name")
    file = forms.FileField(
        help_text="JSON Lines: one record per line (chat, prompt/completion or instruction/output)"
    )


def available_methods() -> list[tuple[str, str]]:
    """The methods this deployment can run (a trainer is configured for them)."""
    trainers = settings.FINETUNE_TRAINERS
    return [(value, label) for value, label in Method.choices if trainers.get(value)]


def credit_costs() -> dict[str, int]:
    """What each of the page's actions costs in credits (the catalog's endpoint_credits)."""
    credits = catalog_settings().get("endpoint_credits") or {}
    cost = {name: int(credits.get(name, 0)) for name in CHARGED}
    cost["train"] = cost["job_create"] + cost["job_start"]
    return cost


CHARGED = ("dataset_create", "job_create", "job_start", "job_register")


class TrainForm(forms.Form):
    dataset = forms.ChoiceField()
    base_model = forms.ChoiceField(label="Base model")
    method = forms.ChoiceField(initial=Method.MODELFILE)

    def __init__(
        self, *args: Any, datasets: list[Dataset], models: list[str], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["dataset"].choices = [
            (str(d.pk), f"{d.title} ({d.records} records)") for d in datasets
        ]
        self.fields["base_model"].choices = [(m, m) for m in models]
        self.fields["method"].choices = available_methods()


class RegisterForm(forms.Form):
    model_name = forms.CharField(max_length=200, label="Model name")


def with_loss_curve(job: dict[str, Any], width: int = 300, height: int = 60) -> dict[str, Any]:
    """A lora job's train and eval losses as SVG polyline points (x by step, y by loss)."""
    steps = [m for m in job["metrics"] if m.get("event") == "step"]
    evals = [m for m in job["metrics"] if m.get("event") == "epoch" and m.get("evalLoss")]
    if len(steps) < 2:
        return job
    last = max(m["step"] for m in steps) or 1
    top = max([m["trainLoss"] for m in steps] + [m["evalLoss"] for m in evals]) or 1

    def points(entries: list[dict], key: str) -> str:
        return " ".join(
            f"{m['step'] * width / last:.1f},{height - m[key] * height / top:.1f}" for m in entries
        )

    job["lossCurve"] = {
        "train": points(steps, "trainLoss"),
        "eval": points(evals, "evalLoss"),
        "first": f"{steps[0]['trainLoss']:.4g}",  # as the page shows it, server or script
        "last": f"{steps[-1]['trainLoss']:.4g}",
    }
    return job


@contextmanager
def charged(principal: Principal, endpoint: str) -> Iterator[Call]:
    """One dashboard action through the plan's limits and credits, like the API call it mirrors:
    admitted first, charged only if it succeeds."""
    call = Call(
        principal=principal,
        request_id=f"dash_{uuid.uuid4().hex}",
        endpoint=endpoint,
        dialect="dashboard",
    )
    metering.admit(call, units_offpeak=0, units_peak=0)
    try:
        yield call
    except ApiError as error:
        call.fail(error.status, error.code)
        raise
    except BaseException:
        call.fail(500, "internal_error")
        raise
    finally:
        metering.settle(call)


class FinetunePage(WorkspaceMixin, TemplateView):
    template_name = "finetune/finetune.html"
    max_body_bytes = staticmethod(limits.dataset_upload_limit)  # the upload form's file

    @property
    def principal(self) -> Principal:
        return workspace_principal(self.workspace)

    def allowed(self) -> bool:
        return SCOPE in self.principal.scopes

    def trainable_models(self) -> list[str]:
        return [
            m.name
            for m in visible_models(self.principal)
            if m.kind == "chat" and services.ollama_deployments(m)
        ]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        datasets = list(Dataset.objects.for_workspace(self.workspace)[:50])
        jobs = list(Job.objects.for_workspace(self.workspace).select_related("dataset")[:50])
        context.update(
            allowed=self.allowed(),
            datasets=datasets,
            jobs=[
                with_loss_curve(
                    {
                        **job_object(job),
                        "dataset": job.dataset,
                        "created": job.created_at,
                        "started": job.started_at,
                        "finished": job.finished_at,
                        "defaultName": default_model_name(job),
                    }
                )
                for job in jobs
            ],
            costs=credit_costs(),
            upload_form=kwargs.get("upload_form") or UploadForm(),
            train_form=kwargs.get("train_form")
            or TrainForm(datasets=datasets, models=self.trainable_models()),
            dataset_errors=kwargs.get("dataset_errors") or [],
            max_bytes=settings.FINETUNE_DATASET_MAX_BYTES,
        )
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not self.allowed():
            return self.get(request, *args, **kwargs)
        action = self.upload if request.POST.get("action") == "upload" else self.train
        return action(request)

    def upload(self, request: HttpRequest) -> HttpResponse:
        form = UploadForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(upload_form=form))
        upload = form.cleaned_data["file"]
        title = form.cleaned_data["title"] or upload.name.rsplit(".", 1)[0]
        try:
            with charged(self.principal, "dataset_create"):
                check_bytes(upload.size)
                parsed = parse_jsonl(upload.read())
                dataset = services.create_dataset(str(self.workspace.pk), title[:200], parsed)
        except DatasetInvalid as invalid:
            form.add_error("file", invalid.headline)
            return self.render_to_response(
                self.get_context_data(upload_form=form, dataset_errors=invalid.details), status=400
            )
        except ApiError as error:
            form.add_error("file", error.message)
            return self.render_to_response(
                self.get_context_data(upload_form=form), status=error.status
            )
        messages.success(
            request,
            f"Dataset “{dataset.title}” stored: {dataset.records} records, about {dataset.estimated_tokens:,} tokens.",
        )
        return redirect("dashboard:finetune", slug=self.workspace.slug)

    def train(self, request: HttpRequest) -> HttpResponse:
        datasets = list(Dataset.objects.for_workspace(self.workspace)[:50])
        form = TrainForm(request.POST, datasets=datasets, models=self.trainable_models())
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(train_form=form), status=400)
        data = form.cleaned_data
        try:
            with charged(self.principal, "job_create"):
                dataset = services.owned(
                    Dataset.objects, str(self.workspace.pk), data["dataset"], "dataset"
                )
                model = next(
                    m for m in visible_models(self.principal) if m.name == data["base_model"]
                )
                job = services.create_job(
                    str(self.workspace.pk),
                    services.JobSpec(dataset, model, data["method"], 3, None, ""),
                )
            with charged(self.principal, "job_start"):
                services.start_job(job)
        except ApiError as error:
            form.add_error(None, error.message)
            return self.render_to_response(
                self.get_context_data(train_form=form), status=error.status
            )
        messages.success(request, "Training started; follow it below.")
        return redirect("dashboard:finetune", slug=self.workspace.slug)


class JobRegisterPageView(WorkspaceMixin, View):
    """POST: register a succeeded job as the workspace's model, from the page (the session, no
    key), charged like POST /api/v1/finetune/jobs/{id}/register."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, slug: str, job_id: str) -> HttpResponse:
        principal = workspace_principal(self.workspace)
        page = redirect("dashboard:finetune", slug=self.workspace.slug)
        if SCOPE not in principal.scopes:
            messages.error(request, "Your plan does not include fine-tuning.")
            return page
        form = RegisterForm(request.POST)
        try:
            job = services.owned(Job.objects, str(self.workspace.pk), job_id, "job")
            name = form.data.get("model_name", "").strip() or default_model_name(job)
            with charged(principal, "job_register"):
                model = services.register_job(job, services.check_model_name(name))
        except ApiError as error:
            if error.status == 404:
                raise Http404("No such job.") from error
            messages.error(request, error.message)
        else:
            messages.success(
                request,
                f"Registered as “{model.name}”: call it by that name, or try it in the playground.",
            )
        page["Location"] += f"#job-{job_id}"
        return page


class JobProgressView(WorkspaceMixin, View):
    """The job's state, progress and log lines after `?after=`, for the page's live view."""

    def get(self, request: HttpRequest, slug: str, job_id: str) -> JsonResponse:
        try:
            job = services.owned(Job.objects, str(self.workspace.pk), job_id, "job")
        except ApiError:
            return JsonResponse({"error": "not found"}, status=404)
        after = request.GET.get("after", "0")
        lines = services.log_lines(job, int(after) if DIGITS.fullmatch(after) else 0, 200)
        return JsonResponse(
            {
                "state": job.state,
                "progress": job.progress,
                "error": job.error or None,
                "modelName": job.registered_model or None,
                "lossCurve": with_loss_curve({"metrics": job.metrics or []}).get("lossCurve"),
                "lines": [
                    {
                        "id": line.id,
                        "time": iso(line.time),
                        "level": line.level,
                        "message": line.message,
                    }
                    for line in lines
                ],
            }
        )
