//! The report as one HTML file: inline CSS and an inline SVG chart, no script, nothing fetched,
//! so it opens anywhere, offline, and can be attached to a change request.

use std::fmt::Write as _;

use super::{Report, Timeline};

/// Text made safe for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

pub const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}
.muted{color:#5d6677}.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:12px 16px;min-width:130px}
.card b{display:block;font-size:22px}.card span{color:#5d6677;font-size:12px}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #dde1e8;border-radius:8px}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #eceff3;vertical-align:top}
th{font-size:12px;color:#5d6677;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.bar{background:#c9d3e6;height:8px;border-radius:4px;display:inline-block}
details{background:#fff;border:1px solid #dde1e8;border-radius:8px;margin:8px 0;padding:8px 12px}
summary{cursor:pointer}.tier{font-size:11px;padding:1px 6px;border-radius:8px;background:#eceff3;margin-right:6px}
.page_high{background:#fbd5d5}.page_low{background:#fde8c8}.digest{background:#dbe7fb}.suppress{background:#e6e6e6}
svg text{font-size:11px;fill:#5d6677}code{font-size:12px}
";

pub fn render(report: &Report) -> String {
    let mut html = String::with_capacity(64 * 1024);
    let totals = &report.totals;
    let _ = write!(
        html,
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content='width=device-width'>\
         <title>noisegate replay report</title><style>{STYLE}</style></head><body><main>\
         <h1>noisegate replay report</h1><div class=muted>{} with {} · {} requests · {} to {}</div>",
        escape(&report.input),
        escape(&report.config),
        report.requests,
        escape(report.first_at.as_deref().unwrap_or("-")),
        escape(report.last_at.as_deref().unwrap_or("-")),
    );
    html.push_str("<div class=cards>");
    for (value, label) in [
        (totals.alert_events.to_string(), "alert events in"),
        (totals.episodes.to_string(), "alert episodes"),
        (totals.incidents.to_string(), "incidents"),
        (totals.pages.to_string(), "pages out"),
        (
            format!("{} ({} critical)", totals.without_noisegate, totals.without_noisegate_critical),
            "pages a plain route would send",
        ),
        (totals.pagerduty_events.to_string(), "PagerDuty events"),
        (format!("{:.1}%", totals.noise_reduction * 100.0), "noise reduction"),
        (totals.digested.to_string(), "digested"),
        (totals.suppressed.to_string(), "suppressed"),
        (totals.log_records.to_string(), "log records"),
    ] {
        let _ = write!(html, "<div class=card><b>{}</b><span>{label}</span></div>", escape(&value));
    }
    html.push_str("</div><h2>Alerts in, pages out</h2>");
    chart(&mut html, &report.timeline);

    html.push_str("<h2>What each mechanism removed</h2><table><tr><th>mechanism</th><th>removed</th><th></th><th>what is counted</th></tr>");
    let most = report.removed.iter().map(|removal| removal.removed).max().unwrap_or(0).max(1);
    for removal in &report.removed {
        let width = (removal.removed as f64 / most as f64 * 160.0).round();
        let _ = write!(
            html,
            "<tr><td>{}</td><td class=n>{}</td><td><span class=bar style='width:{width}px'></span></td>\
             <td class=muted>{}: {}</td></tr>",
            removal.mechanism,
            removal.removed,
            removal.unit,
            escape(removal.meaning),
        );
    }
    html.push_str("</table>");

    html.push_str("<h2>Noisiest alert kinds</h2><table><tr><th>alertname</th><th>alert events</th><th>pages listing it</th></tr>");
    for kind in &report.noisiest {
        let _ = write!(
            html,
            "<tr><td><code>{}</code></td><td class=n>{}</td><td class=n>{}</td></tr>",
            escape(&kind.alertname),
            kind.alert_events,
            kind.pages
        );
    }
    html.push_str("</table>");

    let _ = write!(html, "<h2>Incidents ({})</h2>", report.incidents.len());
    for incident in &report.incidents {
        let labels: Vec<String> =
            incident.group_labels.iter().map(|(name, value)| format!("{name}={value}")).collect();
        let triggers = incident.pages.iter().filter(|page| page.action == "trigger").count();
        let _ = write!(
            html,
            "<details><summary><span class='tier {tier}'>{tier}</span>{summary} \
             <span class=muted>· opened {opened} · {triggers} page(s) · score {score}</span></summary>\
             <p class=muted><code>{key}</code> · {labels} · {alerts} alert(s)</p>",
            tier = escape(&incident.tier),
            summary = escape(if incident.summary.is_empty() { "(never paged)" } else { &incident.summary }),
            opened = escape(&incident.opened_at),
            score = incident.score,
            key = escape(&incident.dedup_key),
            labels = escape(&labels.join(", ")),
            alerts = incident.alerts,
        );
        if !incident.why.is_empty() {
            html.push_str("<p>Why:</p><ul>");
            for line in &incident.why {
                let _ = write!(html, "<li>{}</li>", escape(line));
            }
            html.push_str("</ul>");
        }
        html.push_str("<table><tr><th>time</th><th>event</th><th></th></tr>");
        for page in &incident.pages {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>PagerDuty {}</td><td class=muted>{} · {}</td></tr>",
                escape(&page.at),
                page.action,
                page.severity,
                page.reason
            );
        }
        for decision in &incident.decisions {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td class=muted>{} · score {}</td></tr>",
                escape(&decision.at),
                decision.decision,
                decision.tier,
                decision.score
            );
        }
        html.push_str("</table></details>");
    }
    html.push_str("<p class=muted>Written by <code>noisegate replay --report</code>; the same figures are in JSON with <code>--report report.json</code>.</p></main></body></html>\n");
    html
}

/// Bars of alert events per bucket (left scale) and pages per bucket as dots (right scale).
fn chart(html: &mut String, timeline: &Timeline) {
    let (width, height, left, bottom) = (1040.0, 220.0, 48.0, 24.0);
    let buckets = &timeline.buckets;
    if buckets.is_empty() {
        html.push_str("<p class=muted>No alerts.</p>");
        return;
    }
    let most_alerts = buckets.iter().map(|bucket| bucket.alert_events).max().unwrap_or(0).max(1) as f64;
    let most_pages = buckets.iter().map(|bucket| bucket.pages).max().unwrap_or(0).max(1) as f64;
    let plot = height - bottom - 8.0;
    let step = (width - left - 40.0) / buckets.len() as f64;
    let _ = write!(
        html,
        "<svg role=img aria-label='alert events and pages over time' viewBox='0 0 {width} {height}' \
         width='100%' style='background:#fff;border:1px solid #dde1e8;border-radius:8px'>\
         <text x=4 y=14>{most_alerts} alerts</text><text x='{}' y=14 text-anchor=end fill='#c0392b'>{most_pages} pages</text>",
        width - 4.0
    );
    for (index, bucket) in buckets.iter().enumerate() {
        let x = left + index as f64 * step;
        let bar = bucket.alert_events as f64 / most_alerts * plot;
        let _ = write!(
            html,
            "<rect x='{x:.1}' y='{:.1}' width='{:.1}' height='{bar:.1}' fill='#9db3d9'><title>{}: {} alert events, {} pages</title></rect>",
            8.0 + plot - bar,
            (step - 1.0).max(1.0),
            escape(&bucket.start),
            bucket.alert_events,
            bucket.pages
        );
        if bucket.pages > 0 {
            let y = 8.0 + plot - bucket.pages as f64 / most_pages * plot;
            let _ = write!(html, "<circle cx='{:.1}' cy='{y:.1}' r=4 fill='#c0392b'/>", x + step / 2.0);
        }
    }
    let (first, last) = (&buckets[0].start, &buckets[buckets.len() - 1].start);
    let _ = write!(
        html,
        "<text x='{left}' y='{}'>{}</text><text x='{}' y='{}' text-anchor=end>{}</text></svg>\
         <div class=muted>Bars: alert events per {} s (left scale). Dots: pages, an incident's first trigger (right scale).</div>",
        height - 6.0,
        escape(first),
        width - 40.0,
        height - 6.0,
        escape(last),
        timeline.bucket_seconds
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape(r#"<b a="1">&'"#), "&lt;b a=&quot;1&quot;&gt;&amp;&#39;");
    }
}
