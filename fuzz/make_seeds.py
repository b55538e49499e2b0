#!/usr/bin/env python3
"""Writes the checked-in fuzz seeds, fuzz/seeds/<target>/<name>: valid examples and nasty inputs
for every decoder. Deterministic; rerun after editing (it overwrites its own files and leaves
others, such as saved crash-* inputs, alone):

    python3 fuzz/make_seeds.py
"""

import gzip
import hashlib
import hmac
import json
import os
import struct

SEEDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")
MAX_BYTES = 64 * 1024 - 1
# Must match WEBHOOK_SECRET in fuzz/src/lib.rs.
WEBHOOK_SECRET = b"fuzz-webhook-secret"


def write(target, name, data):
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    assert len(data) <= MAX_BYTES, (target, name, len(data))
    directory = os.path.join(SEEDS, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as out:
        out.write(data)


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# Nasty JSON shared by every JSON decoder: each decoder must reject these cleanly.
COMMON_JSON = {
    "empty": "",
    "deep_arrays": "[" * 10000,
    "deep_objects": '{"a":' * 5000,
    "nan_infinity": "[NaN, Infinity, -Infinity]",
    "huge_number": "1" + "0" * 400,
    "lone_surrogate": '"\\ud800"',
    "bom": "\ufeff{}",
}


def json_seeds(target, valid):
    """The shared nasties plus mutations of one valid document."""
    for name, text in COMMON_JSON.items():
        write(target, name, text)
    text = compact(valid)
    write(target, "truncated_half", text[: len(text) // 2])
    write(target, "truncated_last_byte", text[:-1])
    unknown = json.loads(text)
    (unknown[0] if isinstance(unknown, list) else unknown)["x-unknown"] = {"nested": [1, 2.5, None, {}]}
    write(target, "unknown_fields", compact(unknown))
    write(target, "wrong_type_top", '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')


# ---------------------------------------------------------------------------------------------
# Alertmanager


def am_alert(labels=None, **fields):
    alert = {
        "labels": labels if labels is not None else {"alertname": "HighLatency", "severity": "critical", "service": "api"},
        "annotations": {"summary": "p99 latency above 2s", "runbook": "https://example.com/runbook"},
        "startsAt": "2024-05-01T12:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
    }
    alert.update(fields)
    return alert


def alertmanager_v2():
    t = "alertmanager_v2"
    valid = [am_alert(), am_alert({"alertname": "DiskFull", "severity": "warning", "instance": "node-1"})]
    write(t, "valid", json.dumps(valid, indent=2))
    json_seeds(t, valid)
    write(t, "empty_array", "[]")
    write(t, "object_not_array", compact(am_alert()))
    write(t, "empty_labels", compact([am_alert({}), {"labels": None}, {}]))
    write(t, "nasty_labels", compact([am_alert({
        "alertname": "a=b", "quote\"d": 'va"lue', "new\nline": "x\ny\r\n", "eq=": "=",
        "severity": "", "unicode": "\u00e9\u20ac\U0001f525", "tab\t": "\t",
    })]))
    # serde keeps the last of duplicate keys; the raw text has both.
    write(t, "empty_label_name", compact([am_alert({"alertname": "A", "": "x"})]))
    write(t, "duplicate_keys", '[{"labels":{"alertname":"A","alertname":"B"},"labels":{"x":"y"}}]')
    write(t, "wrong_types", compact([
        {"labels": {"alertname": 1}}, {"labels": ["alertname"]}, {"labels": {"a": None}},
        {"labels": {"alertname": "X"}, "annotations": {"summary": {"deep": [1]}}},
        {"labels": {"alertname": "X"}, "startsAt": 1714564800}, 7, "str", None, [],
    ]))
    write(t, "times", compact([
        am_alert(startsAt=s, endsAt=e) for s, e in [
            ("9999-12-31T23:59:59.999999999Z", "0001-01-01T00:00:00Z"),
            ("1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z"),
            ("2024-05-01T12:00:00+25:00", "2024-02-30T00:00:00Z"),
            ("+002024-05-01T12:00:00Z", "-000001-01-01T00:00:00Z"),
            ("", ""), ("now", "2024-05-01T11:00:00Z"),
            ("2024-05-01T12:00:00.1234567890123Z", "2024-05-01 12:00:00"),
        ]
    ]))
    write(t, "long_strings", compact([am_alert({"alertname": "A" * 30000, "x" * 20000: "v"})]))
    write(t, "many_alerts", "[" + ",".join(['{"labels":{"alertname":"a"}}'] * 1500) + "]")
    write(t, "many_labels", compact([am_alert({f"l{i}": str(i) for i in range(2000)})]))
    write(t, "escapes", r'[{"labels":{"alertname":"\u0000\ud83d\ude00\u00e9\/\b\f"},"annotations":{"s":"\ud800\udc00"}}]')
    write(t, "lone_surrogate_label", r'[{"labels":{"alertname":"\ud800"}}]')
    write(t, "huge_numbers", '[{"labels":{"alertname":"A"},"startsAt":1e999,"endsAt":-1e999}]')


def alertmanager_webhook():
    t = "alertmanager_webhook"

    def message(alerts, version="4", **fields):
        body = {
            "version": version, "groupKey": "{}:{alertname=\"HighLatency\"}", "truncatedAlerts": 0,
            "status": "firing", "receiver": "noisegate", "groupLabels": {"alertname": "HighLatency"},
            "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
            "alerts": alerts,
        }
        body.update(fields)
        return body

    firing = am_alert(status="firing", fingerprint="0123456789abcdef")
    resolved = am_alert(status="resolved", endsAt="2024-05-01T12:05:00Z")
    valid = message([firing, resolved])
    write(t, "valid", json.dumps(valid, indent=2))
    json_seeds(t, valid)
    write(t, "version_number", compact(message([firing], version=4)))
    write(t, "version_3", compact(message([firing], version="3")))
    write(t, "version_missing", compact({"alerts": [firing]}))
    write(t, "alerts_null", compact(message(None)))
    write(t, "alerts_object", compact(message({"0": firing})))
    write(t, "bad_statuses", compact(message([
        am_alert(status=s) for s in ["", "FIRING", "pending", "resolved\n", None]
    ] + [am_alert()])))
    write(t, "nasty_labels", compact(message([am_alert(
        {"alertname": "=", "a\"b": "\"", "c\nd": "\n", "e": ""}, status="firing")])))
    write(t, "empty_label_name", compact(message([am_alert({"alertname": "A", "": ""}, status="firing")])))
    write(t, "duplicate_version", '{"version":"3","version":"4","alerts":[]}')
    write(t, "many_alerts", compact(message([{"status": "firing", "labels": {"alertname": "a"}}] * 1200)))
    write(t, "long_strings", compact(message([am_alert({"alertname": "\u20ac" * 15000}, status="firing")])))
    write(t, "deep_alert", '{"version":"4","alerts":[' + "[" * 2000 + "]" * 2000 + "]}")


# ---------------------------------------------------------------------------------------------
# PagerDuty


def pagerduty_event():
    t = "pagerduty_event"

    def trigger(**payload_fields):
        payload = {
            "summary": "Disk almost full on db-1", "source": "db-1", "severity": "critical",
            "timestamp": "2024-05-01T12:00:00.000+00:00", "component": "postgres", "group": "prod-db",
            "class": "disk", "custom_details": {"free": "2%", "mount": "/var/lib/postgresql"},
        }
        payload.update(payload_fields)
        return {
            "routing_key": "R0UT1NGKEY", "event_action": "trigger", "dedup_key": "db-1/disk",
            "payload": payload, "links": [{"href": "https://example.com", "text": "dash"}],
            "images": [{"src": "https://example.com/i.png"}], "client": "Monitoring",
        }

    valid = trigger()
    write(t, "valid_trigger", json.dumps(valid, indent=2))
    json_seeds(t, valid)
    write(t, "acknowledge", compact({"routing_key": "R", "event_action": "acknowledge", "dedup_key": "k"}))
    write(t, "resolve_empty_key", compact({"routing_key": "R", "event_action": "resolve", "dedup_key": ""}))
    write(t, "missing_routing_key", compact({"event_action": "trigger", "payload": valid["payload"]}))
    write(t, "bad_action", compact(dict(valid, event_action="TRIGGER")))
    write(t, "bad_severity", compact(trigger(severity="fatal")))
    write(t, "no_dedup_key", compact(dict(valid, dedup_key=None)))
    # 400 three-byte characters: 1024 is not a character boundary, so the summary cut must back off.
    write(t, "summary_multibyte_cut", compact(trigger(summary="\u20ac" * 400)))
    write(t, "summary_4byte_cut", compact(trigger(summary="x" + "\U0001f525" * 300, **{"class": ""})))
    write(t, "long_strings", compact(trigger(source="s" * 20000, component="c" * 20000)))
    write(t, "custom_details_nasty", compact(trigger(custom_details={
        "=": "a=b", "q\"uote": "\"", "nl\n": "\n", "empty": "", "num": 1e308, "neg": -0.0,
        "big": 18446744073709551616, "list": [None, True, [[[]]]], "obj": {"a": {"b": {}}},
    })))
    write(t, "custom_details_deep", '{"routing_key":"R","event_action":"trigger","payload":{"summary":"s",'
          '"source":"s","severity":"info","custom_details":{"d":' + "[" * 120 + "]" * 120 + "}}}")
    write(t, "custom_details_not_object", compact(trigger(custom_details="just text")))
    write(t, "timestamp_invalid", compact(trigger(timestamp="now")))
    write(t, "wrong_types", compact({"routing_key": 1, "event_action": ["trigger"], "payload": "p", "links": {}}))
    write(t, "links_nasty", compact(dict(valid, links=[{}, {"href": None}, {"href": ""}, {"href": "x" * 5000}])))
    write(t, "duplicate_keys", '{"routing_key":"","routing_key":"R","event_action":"resolve","dedup_key":"k","dedup_key":""}')
    write(t, "many_details", compact(trigger(custom_details={f"k{i}": i for i in range(3000)})))


def pagerduty_change():
    t = "pagerduty_change"
    valid = {
        "routing_key": "R0UT1NGKEY",
        "payload": {"summary": "Deployed api v1.2.3", "timestamp": "2024-05-01T12:00:00Z", "source": "ci",
                    "custom_details": {"build": 1234}},
        "links": [{"href": "https://ci.example.com/1234", "text": "build"}],
    }
    write(t, "valid", json.dumps(valid, indent=2))
    json_seeds(t, valid)
    write(t, "empty_routing_key", compact(dict(valid, routing_key="")))
    write(t, "missing_payload", compact({"routing_key": "R"}))
    write(t, "summary_null", compact({"routing_key": "R", "payload": {"summary": None}}))
    write(t, "summary_empty", compact({"routing_key": "R", "payload": {"summary": ""}}))
    write(t, "wrong_types", compact({"routing_key": ["R"], "payload": {"summary": 5}}))
    write(t, "long_summary", compact({"routing_key": "R", "payload": {"summary": "\U0001f525" * 15000}}))
    write(t, "lone_surrogate", r'{"routing_key":"R","payload":{"summary":"\udfff"}}')


def pagerduty_webhook():
    t = "pagerduty_webhook"

    def event(event_type="incident.acknowledged", key="db-1/disk", **fields):
        body = {"event": {
            "id": "01DEN9NNOE3J8C6BW9YRGLQD2U", "event_type": event_type, "resource_type": "incident",
            "occurred_at": "2024-05-01T12:03:00.000Z", "agent": {"type": "user_reference"},
            "data": {"id": "PGR0VU2", "type": "incident", "incident_key": key, "status": "acknowledged"},
        }}
        body["event"].update(fields)
        return compact(body)

    def signed(body, *extra):
        signature = hmac.new(WEBHOOK_SECRET, body.encode(), hashlib.sha256).hexdigest()
        return ",".join(list(extra) + ["v1=" + signature]) + "\n" + body

    for kind in ["acknowledged", "reopened", "escalated", "resolved"]:
        write(t, "incident_" + kind, event("incident." + kind))
    for name, text in COMMON_JSON.items():
        write(t, name, text)
    write(t, "ping", compact({"event": {"event_type": "pagey.ping", "data": None}}))
    write(t, "no_event", "{}")
    write(t, "no_data", event(data=None))
    write(t, "empty_key", event(key=""))
    write(t, "wrong_types", compact({"event": {"event_type": 3, "data": {"incident_key": ["k"]}}}))
    write(t, "signed", signed(event()))
    write(t, "signed_rotation", signed(event("incident.resolved"), "v1=00", "v2=abc", "v1=zz", " v1=0"))
    write(t, "signature_odd_hex", "v1=abc\n" + event())
    write(t, "signature_multibyte", "v1=\u00e9\u00e9,v1=a\u20ac\n" + event())
    write(t, "signature_empty", "\n" + event())
    write(t, "signature_long", "v1=" + "ab" * 20000 + "\n{}")
    write(t, "invalid_utf8_body", b'{"event":{"event_type":"incident.resolved","data":{"incident_key":"\xff\xfe"}}}')
    write(t, "invalid_utf8_header", b"v1=\xc3\n" + event().encode())
    write(t, "long_key", event(key="k" * 50000))


# ---------------------------------------------------------------------------------------------
# OTLP


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number, wire_type, payload):
    key = varint(number << 3 | wire_type)
    if wire_type == 0:
        return key + varint(payload)
    if wire_type == 1:
        return key + payload  # 8 raw bytes
    if wire_type == 5:
        return key + payload  # 4 raw bytes
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    return key + varint(len(payload)) + payload


def msg(number, *parts):
    return field(number, 2, b"".join(parts))


# AnyValue
def s_value(text):
    return field(1, 2, text)


def kv(key, value=None):
    """KeyValue; value is an encoded AnyValue body (a oneof field), or None for no value."""
    parts = [field(1, 2, key)]
    if value is not None:
        parts.append(field(2, 2, value))
    return b"".join(parts)


def log_record(attributes, body=None, time=1714564800000000000, severity=17, severity_text="ERROR", extra=b""):
    parts = [field(1, 1, struct.pack("<Q", time)), field(11, 1, struct.pack("<Q", time)),
             field(2, 0, severity), field(3, 2, severity_text)]
    if body is not None:
        parts.append(field(5, 2, body))
    parts += [field(6, 2, attribute) for attribute in attributes]
    return b"".join(parts) + extra


def request(records, resource_attributes=()):
    resource = b"".join(field(1, 2, attribute) for attribute in resource_attributes)
    scope = msg(1, field(1, 2, "noisegate-fuzz"), field(2, 2, "1.0")) + b"".join(field(2, 2, r) for r in records)
    resource_logs = field(1, 2, resource) + field(2, 2, scope)
    return field(1, 2, resource_logs)


def alert_attributes(name="HighLatency", status="firing", **labels):
    attributes = [kv("alertname", s_value(name)), kv("alert.status", s_value(status)), kv("severity", s_value("critical"))]
    attributes += [kv(key, s_value(value)) for key, value in labels.items()]
    return attributes


def nested_kvlist(depth):
    value = s_value("leaf")
    for _ in range(depth):
        value = field(6, 2, field(1, 2, kv("k", value)))
    return value


def nested_array(depth):
    value = field(3, 0, 1)
    for _ in range(depth):
        value = field(5, 2, field(1, 2, value))
    return value


def otlp_protobuf():
    t = "otlp_protobuf"
    resource = [kv("service.name", s_value("api")), kv("k8s.namespace.name", s_value("prod"))]
    valid = request([log_record(alert_attributes(), body=s_value("p99 latency above 2s"))], resource)
    write(t, "valid_alert", valid)
    write(t, "valid_resolved", request([log_record(alert_attributes(status="resolved"))], resource))
    write(t, "valid_log", request([log_record([kv("http.status", field(3, 0, 500))], body=s_value("GET /x 500"))], resource))
    write(t, "empty", b"")
    write(t, "truncated", valid[: len(valid) // 2])
    write(t, "truncated_last_byte", valid[:-1])
    write(t, "invalid_wire_type_6", b"\x0e\x00")
    write(t, "invalid_wire_type_7", valid[:4] + b"\x0f" + valid[4:])
    write(t, "unmatched_end_group", b"\x0c")
    write(t, "start_group_no_end", b"\x0b\x08\x01")
    write(t, "length_overflow", b"\x0a" + b"\xff" * 9 + b"\x01" + b"x")
    write(t, "length_past_end", b"\x0a\x80\x80\x80\x80\x08" + b"x" * 16)
    write(t, "varint_too_long", b"\x0a" + b"\xff" * 11)
    write(t, "field_number_zero", b"\x02\x00")
    # prost allows 100 nested messages: 4 down to the record, 3 per kvlist level, 2 per array level.
    write(t, "nested_kvlist_30", request([log_record(alert_attributes(), body=nested_kvlist(30))]))
    write(t, "nested_kvlist_200", request([log_record(alert_attributes(), body=nested_kvlist(200))]))
    write(t, "nested_array_45", request([log_record([kv("a", nested_array(45))])]))
    write(t, "scalars", request([log_record([
        kv("nan", field(4, 1, struct.pack("<d", float("nan")))),
        kv("inf", field(4, 1, struct.pack("<d", float("-inf")))),
        kv("negzero", field(4, 1, struct.pack("<d", -0.0))),
        kv("intmin", field(3, 0, -(1 << 63))),
        kv("bool", field(2, 0, 7)),
        kv("bytes", field(7, 2, bytes(range(256)))),
        kv("strindex", field(8, 0, 42)),
        kv("novalue"), kv("emptyvalue", b""),
    ], body=field(4, 1, struct.pack("<d", float("inf")))), ]))
    write(t, "times_extreme", request([
        log_record(alert_attributes(), time=(1 << 64) - 1),
        log_record(alert_attributes(), time=0),
        log_record(alert_attributes(), time=1),
    ]))
    write(t, "severity_extreme", request([log_record(alert_attributes(), severity=-1 & 0xFFFFFFFF),
                                          log_record(alert_attributes(), severity=(1 << 64) - 1)]))
    write(t, "invalid_utf8_string", request([log_record([kv("alertname", b"\x0a\x02\xc3\x28")])]))
    write(t, "invalid_utf8_key", request([log_record([field(1, 2, b"\xff\xfe")])]))
    write(t, "nasty_labels", request([log_record(alert_attributes(
        **{"a=b": "c=d", 'q"': '"', "nl\n": "x\ny", "e": "", "alertname": "dup"}))]))
    write(t, "empty_alertname", request([log_record(alert_attributes(name=""))]))
    write(t, "bad_status", request([log_record(alert_attributes(status="maybe"))]))
    write(t, "many_records", request([log_record([kv("alertname", s_value("a"))], severity=9)] * 900))
    write(t, "many_attributes", request([log_record([kv(f"k{i}", s_value("v")) for i in range(3000)])]))
    write(t, "long_value", request([log_record(alert_attributes(big="v" * 60000))]))
    unknown = field(99, 0, 1) + field(100, 5, b"\0\0\0\0") + field(101, 2, b"\x08\x01")
    write(t, "unknown_fields", request([log_record(alert_attributes(), extra=unknown)]) + field(1000, 1, b"\0" * 8))
    write(t, "repeated_oneof", request([log_record([kv("x", s_value("a") + field(3, 0, 5) + s_value("b"))])]))


def otlp_json_request(records, resource_attributes=()):
    return {"resourceLogs": [{
        "resource": {"attributes": list(resource_attributes)},
        "scopeLogs": [{"scope": {"name": "noisegate-fuzz"}, "logRecords": records}],
    }]}


def json_attr(key, value):
    return {"key": key, "value": value}


def json_alert(name="HighLatency", status="firing", **extra):
    record = {
        "timeUnixNano": "1714564800000000000", "observedTimeUnixNano": "1714564800000000000",
        "severityNumber": 17, "severityText": "ERROR", "body": {"stringValue": "p99 latency above 2s"},
        "attributes": [json_attr("alertname", {"stringValue": name}), json_attr("alert.status", {"stringValue": status}),
                       json_attr("severity", {"stringValue": "critical"})],
    }
    record.update(extra)
    return record


def json_nested_kvlist(depth):
    value = {"stringValue": "leaf"}
    for _ in range(depth):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    return value


def otlp_json():
    t = "otlp_json"
    resource = [json_attr("service.name", {"stringValue": "api"})]
    valid = otlp_json_request([json_alert(), {"timeUnixNano": "1714564800000000000", "body": {"stringValue": "log"}}], resource)
    write(t, "valid", json.dumps(valid, indent=2))
    json_seeds(t, valid)
    write(t, "empty_object", "{}")
    write(t, "time_max", compact(otlp_json_request([json_alert(timeUnixNano="18446744073709551615")])))
    write(t, "time_overflow", compact(otlp_json_request([json_alert(timeUnixNano="18446744073709551616")])))
    write(t, "scalars", compact(otlp_json_request([json_alert(attributes=[
        json_attr("alertname", {"stringValue": "A"}),
        json_attr("i", {"intValue": "-9223372036854775808"}), json_attr("i2", {"intValue": 9223372036854775807}),
        json_attr("d", {"doubleValue": 1e308}), json_attr("d2", {"doubleValue": -0.0}), json_attr("b", {"boolValue": True}),
        json_attr("bytes", {"bytesValue": "AAEC/w=="}), json_attr("arr", {"arrayValue": {"values": [{}, {"stringValue": ""}]}}),
        json_attr("none", {}), {"key": "nokey"},
    ])])))
    write(t, "int_overflow", compact(otlp_json_request([{"attributes": [json_attr("i", {"intValue": "9223372036854775808"})]}])))
    write(t, "double_strings", compact(otlp_json_request([{"attributes": [json_attr("d", {"doubleValue": v})]} for v in ["NaN", "Infinity", "-Infinity"]])))
    write(t, "bytes_not_base64", compact(otlp_json_request([{"body": {"bytesValue": "not base64!"}}])))
    write(t, "nan_literal", '{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"doubleValue":NaN}}]}]}]}')
    write(t, "nested_kvlist_20", compact(otlp_json_request([json_alert(body=json_nested_kvlist(20))])))
    write(t, "nested_kvlist_200", compact(otlp_json_request([json_alert(body=json_nested_kvlist(200))])))
    write(t, "snake_case", compact({"resource_logs": [{"scope_logs": [{"log_records": [{"time_unix_nano": "1", "severity_number": 9}]}]}]}))
    write(t, "severity_enum", compact(otlp_json_request([json_alert(severityNumber=s) for s in [99999, -5, 2147483647]])))
    write(t, "trace_ids", compact(otlp_json_request([json_alert(traceId="zz", spanId="0" * 10000)])))
    write(t, "lone_surrogate", r'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":[{"key":"\ud800","value":{"stringValue":"\udc00x"}}]}]}]}]}')
    write(t, "duplicate_keys", '{"resourceLogs":[],"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"a"},"body":{"intValue":"2"}}]}]}]}')
    write(t, "nasty_labels", compact(otlp_json_request([json_alert(attributes=[
        json_attr("alertname", {"stringValue": "a=b\"c\nd"}), json_attr("", {"stringValue": ""}),
        json_attr("=", {"stringValue": "="}), json_attr("alert.status", {"stringValue": ""}),
    ])])))
    write(t, "wrong_types", compact({"resourceLogs": [{"scopeLogs": "x"}, 5, None]}))
    write(t, "many_records", compact(otlp_json_request([{"body": {"stringValue": "x"}}] * 2000)))
    write(t, "long_body", compact(otlp_json_request([json_alert(body={"stringValue": "\u00e9" * 25000})])))


# ---------------------------------------------------------------------------------------------
# OTLP traces

SPAN_SERVER, SPAN_CLIENT, SPAN_PRODUCER, SPAN_CONSUMER = 2, 3, 4, 5
TRACE_A = bytes.fromhex("c9124c802d5936b278978d1506d4bb71")
TRACE_B = bytes.fromhex("0000000000000000000000000000abcd")


def span_id(n):
    return struct.pack(">Q", n)


def span(trace, sid, kind, name="call", parent=b"", attributes=(), extra=b""):
    """Span: trace_id 1, span_id 2, parent_span_id 4, name 5, kind 6, start/end 7/8, attributes 9."""
    parts = [field(1, 2, trace), field(2, 2, sid)]
    if parent:
        parts.append(field(4, 2, parent))
    parts += [field(5, 2, name), field(6, 0, kind),
              field(7, 1, struct.pack("<Q", 1714564800000000000)), field(8, 1, struct.pack("<Q", 1714564800001000000))]
    parts += [field(9, 2, attribute) for attribute in attributes]
    return b"".join(parts) + extra


def resource_spans(spans, resource_attributes=()):
    resource = b"".join(field(1, 2, attribute) for attribute in resource_attributes)
    scope = msg(1, field(1, 2, "noisegate-fuzz")) + b"".join(field(2, 2, s) for s in spans)
    return field(1, 2, field(1, 2, resource) + field(2, 2, scope))


def traces_request(*resources):
    return b"".join(resources)


def k8s(service, pod=None, node=None, namespace=None, cluster=None):
    attributes = [kv("service.name", s_value(service))]
    for key, value in [("k8s.pod.name", pod), ("k8s.node.name", node),
                       ("k8s.namespace.name", namespace), ("k8s.cluster.name", cluster)]:
        if value is not None:
            attributes.append(kv(key, s_value(value)))
    return attributes


def otlp_traces_protobuf():
    t = "otlp_traces_protobuf"
    # frontend calls search (whose SERVER child is in the request) and cart (which sends no spans).
    valid = traces_request(
        resource_spans([
            span(TRACE_A, span_id(1), SPAN_CLIENT, "search/call", attributes=[kv("server.address", s_value("search.shop.svc:8080"))]),
            span(TRACE_A, span_id(2), SPAN_CLIENT, "cart/call", attributes=[kv("peer.service", s_value("cart"))]),
            span(TRACE_A, span_id(3), 1, "render"),
        ], k8s("frontend", "frontend-7d9-abcde", "node-1", "shop", "prod-eu")),
        resource_spans([span(TRACE_A, span_id(4), SPAN_SERVER, "search", parent=span_id(1))],
                       k8s("search", "search-5f6-fghij", "node-2", "shop", "prod-eu")),
    )
    write(t, "valid_client_server", valid)
    write(t, "valid_db_calls", traces_request(resource_spans([
        span(TRACE_B, span_id(10), SPAN_CLIENT, "GET", attributes=[
            kv("db.system", s_value("redis")), kv("server.address", s_value("redis-cart:6379"))]),
        span(TRACE_B, span_id(11), SPAN_CLIENT, "SELECT", attributes=[
            kv("db.system", s_value("postgresql")), kv("net.peer.name", s_value("orders-db.shop.svc.cluster.local"))]),
        span(TRACE_B, span_id(12), SPAN_CLIENT, "SELECT", attributes=[
            kv("db.system", s_value("mysql")), kv("server.address", s_value("10.0.1.7:3306"))]),
        span(TRACE_B, span_id(13), SPAN_PRODUCER, "publish", attributes=[kv("peer.service", s_value("kafka"))]),
    ], k8s("cart", "cart-1", "node-3", "shop")), resource_spans([
        span(TRACE_B, span_id(14), SPAN_CONSUMER, "consume", parent=span_id(13)),
    ], k8s("billing", "billing-1", "node-1", "shop"))))
    write(t, "valid_k8s_resources", traces_request(
        resource_spans([], k8s("api", "api-0", "node-1", "prod", "eu-1")),
        resource_spans([span(TRACE_A, span_id(20), 1)], k8s("api", "api-1", "node-2", "prod", "eu-1")),
        resource_spans([span(TRACE_A, span_id(21), SPAN_SERVER)], k8s("worker", pod="", node="node-9")),
        resource_spans([span(TRACE_A, span_id(22), SPAN_CLIENT, attributes=[kv("peer.service", s_value("api"))])],
                       [kv("k8s.pod.name", s_value("nameless"))]),
        resource_spans([], [kv("service.name", s_value(""))]),
        resource_spans([], [kv("service.name", field(3, 0, 7))]),
        resource_spans([], [kv("service.name", s_value("a")), kv("service.name", s_value("b"))]),
    ))
    write(t, "empty", b"")
    write(t, "empty_resource_spans", field(1, 2, b"") * 3)
    write(t, "truncated", valid[: len(valid) // 2])
    write(t, "truncated_last_byte", valid[:-1])
    write(t, "invalid_wire_type_7", valid[:4] + b"\x0f" + valid[4:])
    write(t, "length_overflow", b"\x0a" + b"\xff" * 9 + b"\x01" + b"x")
    write(t, "varint_too_long", b"\x0a" + b"\xff" * 11)
    write(t, "kinds_extreme", traces_request(resource_spans([
        span(TRACE_A, span_id(30 + i), kind) for i, kind in enumerate([0, 6, 99, (1 << 31) - 1, (1 << 64) - 1, 1 << 40])
    ], k8s("api"))))
    write(t, "ids_odd", traces_request(resource_spans([
        span(b"", b"", SPAN_CLIENT, attributes=[kv("peer.service", s_value("x"))]),
        span(b"", b"", SPAN_SERVER, parent=b""),
        span(TRACE_A, span_id(40), SPAN_CLIENT, parent=span_id(40)),
        span(TRACE_A, span_id(40), SPAN_SERVER, parent=span_id(40)),
        span(b"\xff" * 300, b"\x00" * 300, SPAN_CLIENT, parent=b"\x01" * 300),
    ], k8s("api")), resource_spans([span(TRACE_A, span_id(41), SPAN_SERVER, parent=span_id(40))], k8s("api"))))
    write(t, "nasty_addresses", traces_request(resource_spans([
        span(TRACE_A, span_id(50 + i), SPAN_CLIENT, attributes=[kv("server.address", s_value(address))])
        for i, address in enumerate(["", ":", ":80", "[::1]:443", "::1", "a:b:c", "host:99999999999999999999",
                                     ".svc", ".svc.cluster.local", "x.svc.cluster.local", "....", "api",
                                     "\u00e9t\u00e9.svc:1", "255.255.255.255", "1.2.3.4:", "host:-1"])
    ] + [span(TRACE_A, span_id(90), SPAN_CLIENT, attributes=[kv("peer.service", s_value("")), kv("db.system", s_value(""))]),
         span(TRACE_A, span_id(91), SPAN_CLIENT, attributes=[kv("peer.service", field(3, 0, 1)), kv("server.address", b"")])],
        k8s("api"))))
    write(t, "invalid_utf8_service", traces_request(resource_spans([span(TRACE_A, span_id(1), SPAN_CLIENT)],
                                                                   [kv("service.name", b"\x0a\x02\xc3\x28")])))
    # prost allows 100 nested messages: 5 down to a span's attribute, 3 per kvlist level.
    for depth in (30, 200):
        write(t, "nested_kvlist_%d" % depth, traces_request(resource_spans([
            span(TRACE_A, span_id(1), SPAN_CLIENT, attributes=[kv("peer.service", nested_kvlist(depth))])], k8s("api"))))
    write(t, "many_spans", traces_request(resource_spans([
        span(TRACE_A, span_id(i), SPAN_CLIENT, attributes=[kv("peer.service", s_value("svc-%d" % i))]) for i in range(700)
    ], k8s("api"))))
    unknown = field(99, 0, 1) + field(100, 5, b"\0\0\0\0") + field(16, 5, b"\xff\xff\xff\xff") + field(15, 2, field(3, 0, 2))
    write(t, "unknown_fields", traces_request(resource_spans([span(TRACE_A, span_id(1), SPAN_CLIENT, extra=unknown)],
                                                             k8s("api"))) + field(1000, 1, b"\0" * 8))


def json_span(trace, sid, kind, name="call", parent=None, attributes=(), **extra):
    record = {"traceId": trace, "spanId": sid, "name": name, "kind": kind,
              "startTimeUnixNano": "1714564800000000000", "endTimeUnixNano": "1714564800001000000"}
    if parent is not None:
        record["parentSpanId"] = parent
    if attributes:
        record["attributes"] = [json_attr(key, {"stringValue": value}) for key, value in attributes]
    record.update(extra)
    return record


def json_resource_spans(spans, **resource):
    return {"resource": {"attributes": [json_attr(key, {"stringValue": value}) for key, value in resource.items()]},
            "scopeSpans": [{"scope": {"name": "noisegate-fuzz"}, "spans": list(spans)}]}


def json_k8s(service, pod, node, namespace="shop"):
    return {"service.name": service, "k8s.pod.name": pod, "k8s.node.name": node, "k8s.namespace.name": namespace}


def otlp_traces_json():
    t = "otlp_traces_json"
    trace = TRACE_A.hex()
    valid = {"resourceSpans": [
        json_resource_spans([
            json_span(trace, "7e461ee1d9acaae4", SPAN_CLIENT, "search/call", attributes=[("server.address", "search.shop.svc")]),
            json_span(trace, "1111111111111111", SPAN_CLIENT, "cart/call", attributes=[("server.address", "cart:8080")]),
            json_span(trace, "2222222222222222", 1, "render"),
        ], **json_k8s("frontend", "frontend-7d9-abcde", "node-1"), **{"k8s.cluster.name": "prod-eu"}),
        json_resource_spans([json_span(trace, "3333333333333333", SPAN_SERVER, "search", parent="7e461ee1d9acaae4")],
                            **json_k8s("search", "search-5f6-fghij", "node-2")),
        json_resource_spans([json_span(TRACE_B.hex(), "4444444444444444", SPAN_CLIENT, "GET", attributes=[
            ("db.system", "redis"), ("server.address", "redis-cart:6379")])], **json_k8s("cart", "cart-1", "node-3")),
        json_resource_spans([json_span(trace, "5555555555555555", SPAN_CLIENT)], **{"k8s.pod.name": "nameless"}),
    ]}
    write(t, "valid", json.dumps(valid, indent=2))
    json_seeds(t, valid)
    write(t, "empty_object", "{}")
    write(t, "empty_resource_spans", compact({"resourceSpans": [{}, {"scopeSpans": []}, {"scopeSpans": [{}]}]}))
    write(t, "wrong_types", compact({"resourceSpans": [{"scopeSpans": "x"}, 5, None]}))
    write(t, "resource_spans_number", '{"resourceSpans": 3}')
    write(t, "kinds", compact({"resourceSpans": [json_resource_spans([
        json_span(trace, "%016x" % i, kind) for i, kind in enumerate([0, 6, 99, -1, 2147483647, -2147483648])
    ], **{"service.name": "api"})]}))
    write(t, "kinds_named", compact({"resourceSpans": [json_resource_spans([
        json_span(trace, "%016x" % i, kind) for i, kind in enumerate(["SPAN_KIND_CLIENT", "SPAN_KIND_SERVER", "client"])
    ], **{"service.name": "api"})]}))
    write(t, "kind_overflow", compact({"resourceSpans": [json_resource_spans([
        json_span(trace, "%016x" % i, kind) for i, kind in enumerate([2147483648, 3.5, "3", True, None])
    ], **{"service.name": "api"})]}))
    write(t, "ids_odd", compact({"resourceSpans": [json_resource_spans([
        json_span("", "", SPAN_CLIENT, attributes=[("peer.service", "x")]),
        json_span("", "", SPAN_SERVER, parent=""),
        json_span("00", "ff" * 300, SPAN_CLIENT, parent="00" * 300),
        json_span(trace, "7e461ee1d9acaae4", SPAN_CLIENT, parent="7e461ee1d9acaae4"),
        json_span(trace, "7e461ee1d9acaae4", SPAN_SERVER, parent="7e461ee1d9acaae4"),
        json_span(trace.upper(), "7E461EE1D9ACAAE4", SPAN_SERVER, parent="7E461EE1D9ACAAE4"),
    ], **{"service.name": "api"})]}))
    for name, ids in [("ids_not_hex", ("zz", "0" * 10000)), ("ids_odd_length", (trace, "abc")),
                      ("ids_base64", ("AAECAwQFBgcICQoLDA0ODw==", "AAECAwQFBgc="))]:
        write(t, name, compact({"resourceSpans": [json_resource_spans([json_span(*ids, SPAN_CLIENT, parent=ids[1])],
                                                                      **{"service.name": "api"})]}))
    write(t, "nasty_addresses", compact({"resourceSpans": [json_resource_spans([
        json_span(trace, "%016x" % i, SPAN_CLIENT, attributes=[("server.address", address), ("db.system", "x" * (i % 2))])
        for i, address in enumerate(["", ":", ":80", "[::1]:443", "::1", "a:b:c", "host:99999999999999999999",
                                     ".svc", ".svc.cluster.local", "x.svc.cluster.local", "....", "api",
                                     "\u00e9t\u00e9.svc:1", "255.255.255.255", "1.2.3.4:", "a=b\"c\nd"])
    ], **{"service.name": "api"})]}))
    write(t, "non_string_attributes", compact({"resourceSpans": [{
        "resource": {"attributes": [json_attr("service.name", {"intValue": "7"}), json_attr("k8s.pod.name", {})]},
        "scopeSpans": [{"spans": [dict(json_span(trace, "1111111111111111", SPAN_CLIENT),
                                       attributes=[json_attr("peer.service", {"boolValue": True}),
                                                   json_attr("server.address", {"arrayValue": {"values": []}})])]}],
    }]}))
    write(t, "snake_case", compact({"resource_spans": [{"scope_spans": [{"spans": [
        {"trace_id": trace, "span_id": "1111111111111111", "kind": 3}]}]}]}))
    write(t, "duplicate_keys", '{"resourceSpans":[],"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":3,"kind":2}]}]}]}')
    write(t, "many_spans", compact({"resourceSpans": [json_resource_spans([
        {"traceId": trace, "spanId": "%016x" % i, "kind": SPAN_CLIENT,
         "attributes": [json_attr("peer.service", {"stringValue": "svc-%d" % i})]} for i in range(300)
    ], **{"service.name": "api"})]}))


# ---------------------------------------------------------------------------------------------
# Capture files


def capture_line():
    t = "capture_line"

    def line(source, body, received_at="2024-05-01T12:00:00Z"):
        return '{"received_at":"%s","source":"%s","body":%s}\n' % (received_at, source, body)

    am = compact([am_alert()])
    webhook = compact({"version": "4", "alerts": [am_alert(status="resolved")]})
    pd = compact({"routing_key": "R", "event_action": "trigger",
                  "payload": {"summary": "s", "source": "db-1", "severity": "error"}})
    otlp = compact(otlp_json_request([json_alert()]))
    valid = (line("alertmanager_v2", am) + line("alertmanager_webhook", webhook)
             + line("pagerduty_v2", pd) + line("otlp_logs_json", otlp))
    write(t, "valid", valid)
    write(t, "valid_gzip", gzip.compress(valid.encode(), mtime=0))
    with open(os.path.join(SEEDS, "otlp_traces_json", "valid"), encoding="utf-8") as traces:
        write(t, "valid_traces", line("otlp_traces_json", compact(json.loads(traces.read()))) + line("otlp_logs_json", otlp))
    write(t, "gzip_two_members", gzip.compress(line("pagerduty_v2", pd).encode(), mtime=0)
          + gzip.compress(line("alertmanager_v2", am).encode(), mtime=0))
    write(t, "gzip_truncated", gzip.compress(valid.encode(), mtime=0)[:-9])
    write(t, "gzip_garbage", b"\x1f\x8b\x08\x00" + b"\xff" * 64)
    write(t, "gzip_one_long_line", gzip.compress(b"[" * 60000 + b"\n" + b" " * 200000, mtime=0))
    write(t, "blank_lines_crlf", "\n\r\n   \n" + valid.replace("\n", "\r\n"))
    write(t, "no_trailing_newline", valid.rstrip("\n"))
    write(t, "unknown_source", line("syslog", "{}") + line("", "null") + line("ALERTMANAGER_V2", am))
    write(t, "received_at_nasty", "".join(line("alertmanager_v2", am, r) for r in [
        "1969-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "", "yesterday",
        "2024-05-01T12:00:00+99:99", "2024-13-45T25:61:61Z"]))
    write(t, "body_string", line("alertmanager_v2", json.dumps(am)))
    write(t, "body_nasty", "".join(line(source, body) for source in ["alertmanager_v2", "pagerduty_v2", "otlp_logs_json"]
                                   for body in ["null", "1e999", '"\\ud800"', "[" * 100 + "]" * 100]))
    write(t, "body_deep", line("otlp_logs_json", "[" * 10000 + "]" * 10000))
    write(t, "line_truncated", valid[: len(valid) // 2] + "\n" + valid)
    write(t, "line_wrong_types", '{"received_at":1,"source":"alertmanager_v2","body":[]}\n'
          '{"received_at":"2024-05-01T12:00:00Z","source":null,"body":[]}\n'
          '{"received_at":"2024-05-01T12:00:00Z","source":"alertmanager_v2"}\n[]\n"x"\n')
    write(t, "escaped_fields", '{"received_at":"2024-05-01T12:00:00Z","source":"alertmanager\\u005fv2","body":[]}\n'
          '{"received_at":"2024\\u002d05-01T12:00:00Z","source":"alertmanager_v2","body":[]}\n')
    write(t, "duplicate_keys", '{"received_at":"2024-05-01T12:00:00Z","source":"x","source":"pagerduty_v2","body":1,"body":%s}\n' % pd)
    write(t, "invalid_utf8_line", b'{"received_at":"2024-05-01T12:00:00Z","source":"\xff","body":[]}\n' + valid.encode())
    write(t, "nul_bytes", "\0\n" + valid.replace("db-1", "db\\u0000-1"))
    write(t, "unknown_fields", valid.replace('{"received_at"', '{"extra":{"a":[1,2]},"received_at"'))
    write(t, "empty", b"")
    write(t, "long_line", line("pagerduty_v2", compact({"routing_key": "R", "event_action": "trigger", "payload": {
        "summary": "\u20ac" * 15000, "source": "s", "severity": "info"}})))


# ---------------------------------------------------------------------------------------------
# Config


def config():
    t = "config"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for name in ["default.yaml", "kube-prometheus.yaml"]:
        with open(os.path.join(root, "configs", name), "rb") as source:
            write(t, "configs_" + name.replace(".yaml", ""), source.read())
    seeds = {
        "empty": "",
        "tabs": "server:\n\tgrpc_listen: \"0.0.0.0:4317\"\nlimits:\n  max_labels:\t64\n",
        "unknown_fields": "server:\n  grpc_listen: 0.0.0.0:4317\n  nonsense: 1\nwhat: ever\n",
        # Services ignore unknown fields, so the aliases are expanded (9^9 leaves) while skipping them.
        "billion_laughs": "topology:\n  services:\n    api:\n      a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
            "      %s: &%s [%s]\n" % (chr(98 + i), chr(98 + i), ", ".join(["*" + chr(97 + i)] * 9)) for i in range(8)),
        "alias_merge": "topology:\n  services:\n    api:\n      base: &b {group_wait: 1s, group_by: [a]}\n"
                       "route:\n  <<: *b\n  routes:\n    - <<: *b\n      matchers: ['a=\"b\"']\n",
        "alias_reuse": "engine:\n  exclude_labels: &l [a, b]\nroute:\n  group_by: *l\n  routes:\n    - &r {group_by: *l, group_wait: 1s}\n    - *r\n",
        "alias_undefined": "route: *nowhere\n",
        "alias_self": "route: &r {routes: [*r]}\n",
        "multi_document": "limits: {max_labels: 1}\n---\nlimits: {max_labels: 2}\n",
        "duplicate_keys": "limits:\n  max_labels: 1\nlimits:\n  max_labels: 2\n",
        "number_overflow": "limits:\n  max_body_bytes: 18446744073709551616\n",
        "huge_numbers": "limits:\n  max_body_bytes: 18446744073709551615\n  max_labels: 18446744073709551615\n"
                        "  max_records_per_request: 0\n  max_active_alerts: 18446744073709551615\n"
                        "server:\n  engine_queue: 18446744073709551615\npagerduty:\n  queue_capacity: 18446744073709551615\n"
                        "  retry: {max_attempts: 4294967295}\n"
                        "logs: {depth: 18446744073709551615, max_children: 0, similarity: 1e40, burst_errors: 4294967295}\n",
        "nan_infinity": "scoring:\n  weights: {severity: .nan, growth: .inf, novelty: -.inf, feedback: 1e300}\n"
                        "  thresholds: {high: .NaN, low: -.Inf, digest: 0.1}\nlogs: {similarity: .nan}\n",
        "durations": "server:\n  shutdown_grace: 18446744073709551615s\n  tick: 0s\nroute:\n  group_wait: -1s\n"
                     "  group_interval: 1e400ms\n  repeat_interval: 9999999999999999999h\ncorrelation:\n  window: \"\"\n"
                     "  settle: {warning: 5 m, info: 1h30m}\nflapping: {window: 1.5h, hold: ns, min_episodes: 0}\n"
                     "limits: {body_read_timeout: 100000000000000000000d}\n",
        "wrong_types": "server: [1, 2]\nlimits: {max_labels: \"64\"}\nroute: {group_by: alertname}\npatterns: {phrases: x}\n",
        "bad_matchers": "route:\n  routes:\n    - matchers: ['', '=', 'a=', '=b', 'a=~\"(\"', 'a!~\"x{1000000000}\"', 'a=\"\\\"', "
                        "'a=\"\\u0000\"', 'a==\"b\"', '{a=\"b\"}']\n"
                        "inhibit_rules:\n  - source_matchers: ['a=~\".*.*.*.*.*.*\"']\n    target_matchers: []\n"
                        "    equal: ['', '=']\n    scope: everything\n",
        "regex_large": "route:\n  routes:\n    - matchers: ['a=~\"((((((((((a{50}){50}){50}){50}){50}){50}){50}){50}){50}){50})\"']\n",
        "nested_routes": "route:\n" + "".join("  " * (i + 1) + "routes:\n" + "  " * (i + 1) + "- group_wait: %ds\n" % i
                                            for i in range(60)),
        # Deeper than serde_yaml_ng's recursion limit (128), within the target's bracket cap.
        "deep_flow": "route: " + "[" * 900 + "\n",
        "topology_cycle": "topology:\n  services:\n    a: {depends_on: [b]}\n    b: {depends_on: [c]}\n    c: {depends_on: [a, a, '']}\n"
                          "    '': {depends_on: ['']}\n    self: {depends_on: [self], pods: [{name: p, node: n}, {name: p, node: ''}]}\n"
                          "  nodes: [n, n, '']\n  subjects:\n    - {label: '', kind: service, pattern: '('}\n"
                          "    - {label: pod, kind: nonsense}\ninhibit_rules:\n  - source_matchers: ['a=\"b\"']\n    scope: dependents\n",
        "secrets": "pagerduty:\n  routing_keys:\n    default: {env: NOPE}\n    both: {env: A, value: b}\n    none: {}\n"
                   "    empty: {value: ''}\n    file: {file: does/not/exist}\n    '': {value: x}\n"
                   "feedback:\n  webhook_secrets: [{value: ''}, {}, {env: X, file: y}]\n"
                   "auth:\n  ingest_tokens: [{value: t, expires: yesterday}, {value: t, expires: '9999-12-31T23:59:59Z'}]\n"
                   "  admin_tokens: [{value: ''}, {env: ''}]\n",
        "silences": "silences:\n  - matchers: ['a=\"b\"']\n    start: 2024-05-01T12:00:00Z\n    end: 2024-04-01T12:00:00Z\n"
                    "  - matchers: []\n    weekly: {days: [Mon, Funday, ''], from: '25:00', to: '-1:60'}\n"
                    "  - weekly: {days: [], from: '9:5', to: '23:59:59'}\n    start: 1\n  - {}\n",
        "patterns": "patterns:\n  - phrases: []\n    action: tag\n  - phrases: ['', '\\u0000', 'a']\n    action: must_page\n    tag: x\n"
                    "  - phrases: [x]\n    action: explode\n",
        "addresses": "server:\n  grpc_listen: '[::1]:99999'\n  http_listen: ':80'\n  admin_listen: 'localhost:9464'\n"
                     "pagerduty:\n  url: 'not a url'\n  client_url: ''\n  pages_file: ''\n  timeout: 0s\ndigest: {webhook_url: 'ftp://x', interval: 0s}\n",
        "yaml_tags": "limits: !!map {max_labels: !!int '12'}\nengine:\n  default_severity: !!binary aGVsbG8=\n  exclude_labels: !custom [a]\n",
        "long_strings": "engine:\n  exclude_labels: [" + ", ".join(["l" * 200] * 200) + "]\n",
        "quoting": "engine:\n  default_severity: \"\\ud800\"\n  exclude_labels: ['a''b', \"c\\\"d\", \"e\\nf\", \"\\x00\", ? complex key]\n",
        "bom_crlf": "\ufefflimits:\r\n  max_labels: 8\r\n",
    }
    for name, text in seeds.items():
        write(t, name, text)


def kafka_message():
    """The first byte picks the encoding (index into WireFormat::ALL: otlp_proto, otlp_json,
    alertmanager_v2, alertmanager_webhook, pagerduty_v2, otlp_traces_proto, otlp_traces_json);
    the valid seeds of those targets, behind it."""
    t = "kafka_message"
    for index, source in enumerate(["otlp_protobuf", "otlp_json", "alertmanager_v2", "alertmanager_webhook", "pagerduty_event",
                                    "otlp_traces_protobuf", "otlp_traces_json"]):
        directory = os.path.join(SEEDS, source)
        for name in sorted(os.listdir(directory)):
            if name.startswith("valid") or name in ("truncated_half", "wrong_types", "nasty_labels"):
                with open(os.path.join(directory, name), "rb") as seed:
                    write(t, "%s_%s" % (source, name), bytes([index]) + seed.read())
    write(t, "empty", b"")
    write(t, "encoding_only", b"\x02")
    write(t, "invalid_utf8_json", b"\x01\xff{}")


def main():
    alertmanager_v2()
    alertmanager_webhook()
    pagerduty_event()
    pagerduty_change()
    pagerduty_webhook()
    otlp_protobuf()
    otlp_json()
    otlp_traces_protobuf()
    otlp_traces_json()
    capture_line()
    config()
    kafka_message()
    for target in sorted(os.listdir(SEEDS)):
        print("%-22s %3d seeds" % (target, len(os.listdir(os.path.join(SEEDS, target)))))


if __name__ == "__main__":
    main()
