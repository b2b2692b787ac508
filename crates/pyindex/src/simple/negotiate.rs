//! PEP 691 server-driven content negotiation over the `Accept` header.

use super::{Format, HTML_V1, JSON_V1, TEXT_HTML};

/// Server-driven content negotiation (PEP 691): the format of `offered` the `Accept`
/// header value prefers, by quality value and then by the order of `offered`; `None`
/// when it accepts none of them. A missing header means `*/*`.
pub fn negotiate(accept: Option<&str>, offered: &[Format]) -> Option<Format> {
    let ranges = accept_ranges(accept.unwrap_or("*/*"));
    let mut best: Option<(Format, f32)> = None;
    for &format in offered {
        let q = quality(&ranges, format);
        if q > 0.0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((format, q));
        }
    }
    best.map(|(f, _)| f)
}

/// Media ranges of an `Accept` value with their quality, at most 64 of them.
fn accept_ranges(accept: &str) -> Vec<(String, f32)> {
    accept
        .split(',')
        .take(64)
        .filter_map(|part| {
            let mut params = part.split(';');
            let media = params.next()?.trim().to_ascii_lowercase();
            if media.is_empty() {
                return None;
            }
            let q = params
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|v| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((media, q.clamp(0.0, 1.0)))
        })
        .collect()
}

/// The quality of `format` under `ranges`: that of the most specific range matching it.
fn quality(ranges: &[(String, f32)], format: Format) -> f32 {
    let exact: &[&str] = match format {
        Format::Html => &[
            HTML_V1,
            TEXT_HTML,
            "application/vnd.pypi.simple.latest+html",
        ],
        Format::Json => &[JSON_V1, "application/vnd.pypi.simple.latest+json"],
    };
    let partial: &[&str] = match format {
        Format::Html => &["application/*", "text/*"],
        Format::Json => &["application/*"],
    };
    let best_of = |names: &[&str]| {
        ranges
            .iter()
            .filter(|(m, _)| names.contains(&m.as_str()))
            .map(|(_, q)| *q)
            .reduce(f32::max)
    };
    best_of(exact)
        .or_else(|| best_of(partial))
        .or_else(|| best_of(&["*/*"]))
        .unwrap_or(0.0)
}
