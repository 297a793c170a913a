"""Installs a worker's OpenTelemetry tracer provider from ``SWERVE_TRACING_*`` (``TracingSettings``).

The SDK's provider is installed whatever the exporter: spans get real ids, so the trace id an
input arrives with reaches every output (``tracing``). With ``exporter: none`` (the default)
no span processor is added and nothing leaves the process; with ``otlp`` a batch processor
sends spans over OTLP/HTTP (protobuf) to ``otlp_endpoint``. The sampler keeps the decision of
an incoming trace and samples new ones at ``sample_ratio``.

This module must never create spans; only a process's entry point calls ``configure_tracing``.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from swerve.streams.settings import TracingSettings

__all__ = ["configure_tracing", "tracer_provider"]


def tracer_provider(settings: TracingSettings, role: str) -> TracerProvider:
    """The SDK provider ``settings`` describe for a worker of ``role`` (not installed)."""
    resource = Resource.create({SERVICE_NAME: settings.service_name or f"swerve-{role}"})
    provider = TracerProvider(resource=resource, sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)))
    if settings.exporter == "otlp":
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint)))
    return provider


def configure_tracing(settings: TracingSettings, role: str) -> TracerProvider:
    """Install the provider for this process (once: OpenTelemetry refuses to replace a global one)."""
    provider = tracer_provider(settings, role)
    trace.set_tracer_provider(provider)
    return provider
