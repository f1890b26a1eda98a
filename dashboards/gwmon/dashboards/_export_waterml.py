"""WaterML 2.0 part 1 (OGC 10-126r4): what `gwmon export --format waterml2` writes.

A `wml2:Collection` with one `om:OM_Observation` whose result is a
`wml2:MeasurementTimeseries`: the unit (UCUM code) in its default point metadata, one
`wml2:MeasurementTVP` per value. Each point carries its quality from the OGC vocabulary
(http://www.opengis.net/def/waterml/2.0/quality/...): `good` when approved or checked,
`unchecked` when raw, `suspect` when QC flags make it so; and qualifiers saying the
approval level, the QC flags, a correction and "below the limit of quantification".
Values a correction deleted are left out: they are not part of the corrected series.
Elements follow the order of the WaterML 2.0 schema (timeseries.xsd); the XML is made
with the standard library and no schema is fetched.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from gwmon.dashboards._export import ExportSeries, ExportValue, format_number

WML2 = "http://www.opengis.net/waterml/2.0"
GML = "http://www.opengis.net/gml/3.2"
OM = "http://www.opengis.net/om/2.0"
SWE = "http://www.opengis.net/swe/2.0"
XLINK = "http://www.w3.org/1999/xlink"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{WML2} http://schemas.opengis.net/waterml/2.0/waterml2.xsd"
QUALITY = "http://www.opengis.net/def/waterml/2.0/quality/"
INTERPOLATION = "http://www.opengis.net/def/waterml/2.0/interpolationType/Continuous"
QUALIFIER_APPROVAL = "urn:gwmon:qualifier:approval-level"
QUALIFIER_QC = "urn:gwmon:qualifier:qc-flag"
QUALIFIER_CORRECTED = "urn:gwmon:qualifier:corrected"
QUALIFIER_CENSORED = "urn:gwmon:qualifier:below-limit-of-quantification"
_NS = 1_000_000_000

for _prefix, _uri in (("wml2", WML2), ("gml", GML), ("om", OM), ("swe", SWE), ("xlink", XLINK)):
    ET.register_namespace(_prefix, _uri)
ET.register_namespace("xsi", XSI)


def _tag(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def _sub(parent: ET.Element, namespace: str, name: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, _tag(namespace, name))
    if text is not None:
        element.text = text
    return element


def _link(parent: ET.Element, namespace: str, name: str, href: str, title: str = "") -> None:
    element = _sub(parent, namespace, name)
    element.set(_tag(XLINK, "href"), href)
    if title:
        element.set(_tag(XLINK, "title"), title)


def iso_time(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns // _NS, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def quality_of(value: ExportValue) -> str:
    """The OGC quality term of one value (module docstring)."""
    if value.suspect:
        return "suspect"
    return "unchecked" if value.approval_level == "raw" else "good"


def _qualifier(metadata: ET.Element, definition: str, text: str) -> None:
    category = _sub(_sub(metadata, WML2, "qualifier"), SWE, "Category")
    category.set("definition", definition)
    _sub(category, SWE, "value", text)


def _point(timeseries: ET.Element, value: ExportValue, number: float) -> None:
    tvp = _sub(_sub(timeseries, WML2, "point"), WML2, "MeasurementTVP")
    _sub(tvp, WML2, "time", iso_time(value.time_ns))
    _sub(tvp, WML2, "value", format_number(number))
    metadata = _sub(_sub(tvp, WML2, "metadata"), WML2, "TVPMeasurementMetadata")
    _link(metadata, WML2, "quality", QUALITY + quality_of(value), quality_of(value))
    _qualifier(metadata, QUALIFIER_APPROVAL, value.approval_level)
    for flag in value.flags:
        _qualifier(metadata, QUALIFIER_QC, flag)
    if value.corrected:
        _qualifier(metadata, QUALIFIER_CORRECTED, value.corrections or "corrected")
    if value.censored:
        _qualifier(metadata, QUALIFIER_CENSORED, "true")


def _observation(collection: ET.Element, export: ExportSeries, ident: str) -> ET.Element:
    observation = _sub(_sub(collection, WML2, "observationMember"), OM, "OM_Observation")
    observation.set(_tag(GML, "id"), f"obs.{ident}")
    period = _sub(_sub(observation, OM, "phenomenonTime"), GML, "TimePeriod")
    period.set(_tag(GML, "id"), f"period.{ident}")
    _sub(period, GML, "beginPosition", iso_time(export.from_ns))
    _sub(period, GML, "endPosition", iso_time(export.to_ns))
    instant = _sub(_sub(observation, OM, "resultTime"), GML, "TimeInstant")
    instant.set(_tag(GML, "id"), f"result.{ident}")
    _sub(instant, GML, "timePosition", iso_time(export.to_ns))
    _link(observation, OM, "procedure", f"urn:gwmon:series:{export.series}", export.series)
    _link(observation, OM, "observedProperty", f"urn:gwmon:quantity:{export.quantity}")
    probe = export.probe
    _link(observation, OM, "featureOfInterest", f"urn:gwmon:probe:{probe.probe_id}", probe.site)
    return _sub(observation, OM, "result")


def render_waterml(export: ExportSeries) -> str:
    ident = f"{export.probe.probe_id}.{export.quantity}"
    collection = ET.Element(_tag(WML2, "Collection"))
    collection.set(_tag(GML, "id"), f"collection.{ident}")
    collection.set(_tag(XSI, "schemaLocation"), SCHEMA_LOCATION)
    metadata = _sub(_sub(collection, WML2, "metadata"), WML2, "DocumentMetadata")
    metadata.set(_tag(GML, "id"), f"metadata.{ident}")
    _sub(metadata, WML2, "generationDate", iso_time(export.generated_ns))
    _sub(metadata, WML2, "generationSystem", "gwmon")
    timeseries = _sub(_observation(collection, export, ident), WML2, "MeasurementTimeseries")
    timeseries.set(_tag(GML, "id"), f"timeseries.{ident}")
    default_metadata = _sub(timeseries, WML2, "defaultPointMetadata")
    default = _sub(default_metadata, WML2, "DefaultTVPMeasurementMetadata")
    _sub(default, WML2, "uom").set("code", export.unit)
    _link(default, WML2, "interpolationType", INTERPOLATION, "Continuous")
    for value in export.values:
        if value.value is not None:
            _point(timeseries, value, value.value)
    ET.indent(collection)
    return ET.tostring(collection, encoding="unicode", xml_declaration=True) + "\n"
