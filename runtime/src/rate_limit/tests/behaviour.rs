//! How rules match and how values are read, whatever the provider.

use super::*;

#[test]
fn retry_after_is_read_on_every_response_but_sent_only_when_limited() {
    let headers = header_map(&[("Retry-After", "30")]);
    let response = ResponseParts { status: 200, headers: &headers, body: None };
    let status = inspect(&iso8601_reset(), &response, at("2024-06-01T09:00:00Z"), &body_matches);
    assert_eq!(status, expect(false, None, None, None, Some(30), None));
    assert_eq!(status.headers(), vec![]);
}

#[test]
fn missing_headers() {
    // Every definition (but the body-conditioned one), limited and not, with no headers at all.
    let now = at("2024-06-01T09:00:00Z");
    for (key, status) in [
        ("interval_millis_limits", 429),
        ("remaining_zero_or_retry_after_on_403", 429),
        ("used_of_limit_bucket", 429),
        ("http_date_retry_after", 429),
        ("iso8601_reset", 429),
        ("reset_on_some_responses", 429),
        ("retry_after_on_503", 429),
        ("delta_seconds_reset_short_window", 429),
        ("epoch_reset_rolling_window", 429),
    ] {
        let entry = definition(key);
        let def = &entry.rate_limit;
        let name = format!("{key} (imitates {})", entry.imitates);
        let headers = HeaderMap::new();
        for (status, limited) in [(status, true), (200, false)] {
            let response = ResponseParts { status, headers: &headers, body: None };
            let got = inspect_detailed(def, &response, now, &body_matches);
            assert_eq!(
                got.status,
                RateLimitStatus { limited, window_seconds: def.window_seconds, ..Default::default() },
                "{name} {status}"
            );
            assert!(got.problems.is_empty(), "{name}: {:?}", got.problems);
            // A window alone is no policy: `q` is required.
            assert_eq!(got.status.headers(), vec![], "{name} {status}");
        }
    }
}

#[test]
fn unparseable_headers_are_ignored_and_reported() {
    fn check(def: &RateLimit, status: u16, raw: &[(&str, &str)], want: RateLimitStatus, problems: &[(Field, &str, ParseError)]) {
        let now = at("2024-06-01T09:00:00Z");
        let mut headers = HeaderMap::new();
        for (name, value) in raw {
            headers.append(HeaderName::try_from(*name).unwrap(), HttpValue::from_bytes(value.as_bytes()).unwrap());
        }
        let response = ResponseParts { status, headers: &headers, body: None };
        let got = inspect_detailed(def, &response, now, &body_matches);
        assert_eq!(got.status, want, "{raw:?}");
        let got_problems: Vec<(Field, &str, ParseError)> = got.problems.iter().map(|p| (p.field, p.header.as_str(), p.error)).collect();
        assert_eq!(got_problems, problems, "{raw:?}");
        // An unreadable header contributes nothing to the output.
        assert_eq!(got.status.headers(), want.headers());
    }

    // The definition's own headers, in the provider's spelling.
    let d = interval_millis_limits();
    let (max, remaining, interval) = (header_of(&d.limit), header_of(&d.remaining), reset_header_of(&d));
    check(
        &d,
        429,
        &[(max, "lots"), (remaining, "-1"), (interval, "10s")],
        expect(true, None, None, None, None, Some(10)),
        &[
            (Field::Limit, max, ParseError::NotACount),
            (Field::Remaining, remaining, ParseError::NotACount),
            (Field::Reset, interval, ParseError::NotADecimal),
        ],
    );
    // Fractions, exponents, signs, hex, NaN, infinity, overflow.
    for bad in ["39.5", "1e3", "+5", "0x10", "NaN", "inf", "1,000", "1 000"] {
        check(
            &delta_seconds_reset_short_window(),
            200,
            &[("x-ratelimit-remaining", bad)],
            expect(false, None, None, None, None, Some(2)),
            &[(Field::Remaining, "x-ratelimit-remaining", ParseError::NotACount)],
        );
    }
    check(
        &delta_seconds_reset_short_window(),
        200,
        &[("x-ratelimit-limit", "18446744073709551616")],
        expect(false, None, None, None, None, Some(2)),
        &[(Field::Limit, "x-ratelimit-limit", ParseError::OutOfRange)],
    );
    // Not visible ASCII; empty; repeated with different values (repeated equal values are fine).
    check(
        &delta_seconds_reset_short_window(),
        200,
        &[("x-ratelimit-limit", "4é0"), ("x-ratelimit-remaining", "  "), ("x-ratelimit-reset", "2")],
        expect(false, None, None, Some(2), None, Some(2)),
        &[(Field::Limit, "x-ratelimit-limit", ParseError::NotText), (Field::Remaining, "x-ratelimit-remaining", ParseError::Empty)],
    );
    check(
        &delta_seconds_reset_short_window(),
        200,
        &[("x-ratelimit-limit", "40"), ("x-ratelimit-limit", "40 "), ("x-ratelimit-remaining", "39"), ("x-ratelimit-remaining", "38")],
        expect(false, Some(40), None, None, None, Some(2)),
        &[(Field::Remaining, "x-ratelimit-remaining", ParseError::Conflicting)],
    );
    // used/limit: broken ratios; a prefix that is not there.
    let d = used_of_limit_bucket();
    let bucket = header_of(&d.limit);
    assert_eq!(header_of(&d.remaining), bucket, "one header carries both");
    for bad in ["32", "32/", "/40", "32/40/1", "a/40", "32/-40", "32:40"] {
        check(
            &d,
            200,
            &[(bucket, bad)],
            expect(false, None, None, None, None, None),
            &[(Field::Limit, bucket, ParseError::NotUsedOfLimit), (Field::Remaining, bucket, ParseError::NotUsedOfLimit)],
        );
    }
    let d = body_error_code_on_403();
    let usage = header_of(&d.limit);
    assert_eq!(header_of(&d.remaining), usage, "one header carries both");
    check(
        &d,
        200,
        &[(usage, "per-app-api-usage=17/250(appName=sample-connected-app)")],
        expect(false, None, None, None, None, None),
        &[(Field::Limit, usage, ParseError::MissingPrefix), (Field::Remaining, usage, ParseError::MissingPrefix)],
    );
    // Epoch units: a delta or a millisecond value read as epoch seconds is a unit mix-up.
    for bad in ["2", "1655120964000"] {
        check(
            &remaining_zero_or_retry_after_on_403(),
            200,
            &[("x-ratelimit-reset", bad)],
            expect(false, None, None, None, None, None),
            &[(Field::Reset, "x-ratelimit-reset", ParseError::ImplausibleEpoch)],
        );
    }
    // Times: not a date; an ISO timestamp without an offset; an HTTP-date that is not one.
    check(
        &iso8601_reset(),
        429,
        &[("X-RateLimit-Reset", "2024-06-01T09:00"), ("Retry-After", "soon")],
        expect(true, None, None, None, None, None),
        &[(Field::Reset, "X-RateLimit-Reset", ParseError::NotIso8601), (Field::RetryAfter, "Retry-After", ParseError::NotADecimal)],
    );
    check(
        &http_date_retry_after(),
        429,
        &[("Retry-After", "Tue, 32 May 2023 14:42:01 GMT")],
        expect(true, None, None, None, None, None),
        &[(Field::RetryAfter, "Retry-After", ParseError::NotAnHttpDate)],
    );
    check(
        &def(vec![on(&[429])]),
        429,
        &[("Retry-After", "-5")],
        expect(true, None, None, None, None, None),
        &[(Field::RetryAfter, "Retry-After", ParseError::NotRetryAfter)],
    );
}

#[test]
fn problems_render_for_logs() {
    let headers = header_map(&[("x-ratelimit-reset", "2")]);
    let response = ResponseParts { status: 200, headers: &headers, body: None };
    let got = inspect_detailed(&remaining_zero_or_retry_after_on_403(), &response, at("2024-06-01T09:00:00Z"), &body_matches);
    assert_eq!(
        got.problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec!["rate_limit.reset: ignored header `x-ratelimit-reset`: \"2\": expected a Unix time between the years 2000 and 3000; is the unit right?"]
    );
}

// ---------- rule matching ----------

#[test]
fn header_condition_trims_and_matches_any_value() {
    let now = at("2024-06-01T09:00:00Z");
    let limited = |status: u16, headers: &[(&str, &str)]| {
        let headers = header_map(headers);
        inspect(&remaining_zero_or_retry_after_on_403(), &ResponseParts { status, headers: &headers, body: None }, now, &body_matches)
            .limited
    };
    assert!(limited(403, &[("X-RateLimit-Remaining", " 0 ")]));
    assert!(limited(403, &[("x-ratelimit-remaining", "1"), ("x-ratelimit-remaining", "0")]));
    assert!(!limited(403, &[("x-ratelimit-remaining", "00")]));
    assert!(!limited(403, &[]));
    assert!(!limited(404, &[("x-ratelimit-remaining", "0")]));
    // Presence: an empty retry-after is still present.
    assert!(limited(403, &[("retry-after", "")]));
    // `equals` is trimmed too.
    let spaced = def(vec![on_header(&[429], "X-Limited", Some(" yes "))]);
    let headers = header_map(&[("x-limited", "yes")]);
    assert!(inspect(&spaced, &ResponseParts { status: 429, headers: &headers, body: None }, now, &body_matches).limited);
    // A definition with an invalid header name never matches and never panics.
    let invalid = def(vec![on_header(&[429], "bad name\n", None)]);
    assert!(!inspect(&invalid, &ResponseParts { status: 429, headers: &headers, body: None }, now, &body_matches).limited);
}

#[test]
fn body_condition_is_only_evaluated_for_a_listed_status() {
    let calls = std::cell::Cell::new(0);
    let counting = |expr: &Expr, body: &Value| {
        calls.set(calls.get() + 1);
        body_matches(expr, body)
    };
    let headers = HeaderMap::new();
    let body = json!([{"errorCode": "REQUEST_LIMIT_EXCEEDED"}]);
    let now = at("2024-06-01T09:00:00Z");
    assert!(
        !inspect(&body_error_code_on_403(), &ResponseParts { status: 200, headers: &headers, body: Some(&body) }, now, &counting).limited
    );
    assert_eq!(calls.get(), 0);
    assert!(
        inspect(&body_error_code_on_403(), &ResponseParts { status: 403, headers: &headers, body: Some(&body) }, now, &counting).limited
    );
    assert_eq!(calls.get(), 1);
}

// ---------- units ----------

#[test]
fn units_convert_to_whole_seconds_rounded_up() {
    use parse::{parse_seconds_until, Unit};
    let now = at("2024-06-01T09:00:00Z"); // 1717232400
    let cases: &[(Unit, &str, u64)] = &[
        (Unit::DeltaSeconds, "0", 0),
        (Unit::DeltaSeconds, "2", 2),
        (Unit::DeltaSeconds, "2.0", 2),
        (Unit::DeltaSeconds, "1.2", 2),
        (Unit::DeltaSeconds, "0.0000000001", 1),
        (Unit::DeltaSeconds, "0.000", 0),
        (Unit::DeltaSeconds, "007", 7),
        (Unit::DeltaSeconds, "18446744073709551615", u64::MAX),
        (Unit::DeltaMillis, "10000", 10),
        (Unit::DeltaMillis, "1", 1),
        (Unit::DeltaMillis, "1500", 2),
        (Unit::DeltaMillis, "999.5", 1),
        (Unit::DeltaMillis, "0", 0),
        (Unit::EpochSeconds, "1717232410", 10),
        (Unit::EpochSeconds, "1717232400.1", 1),
        (Unit::EpochSeconds, "1717232300", 0),
        (Unit::EpochMillis, "1717232410000", 10),
        (Unit::EpochMillis, "1717232400001", 1),
        (Unit::EpochMillis, "1717232399999", 0),
        (Unit::HttpDate, "Sat, 01 Jun 2024 09:01:00 GMT", 60),
        (Unit::HttpDate, "Saturday, 01-Jun-24 09:01:00 GMT", 60),
        (Unit::HttpDate, "Sat Jun  1 09:01:00 2024", 60),
        (Unit::HttpDate, "Sat, 01 Jun 2024 08:00:00 GMT", 0),
        (Unit::Iso8601, "2024-06-01T09:00Z", 0),
        (Unit::Iso8601, "2024-06-01T09:02Z", 120),
        (Unit::Iso8601, "2024-06-01T09:02+00:00", 120),
        (Unit::Iso8601, "2024-06-01T11:02+0200", 120),
        (Unit::Iso8601, "2024-06-01T09:02:00Z", 120),
        (Unit::Iso8601, "2024-06-01T09:02:00.5Z", 121),
        (Unit::Iso8601, "2024-06-01t09:02:00z", 120),
        (Unit::Iso8601, "2024-06-01T04:02:00-05:00", 120),
        (Unit::Auto, "120", 120),
        (Unit::Auto, "2.0", 2),
        (Unit::Auto, "0.5", 1),
        (Unit::Auto, "Sat, 01 Jun 2024 09:01:00 GMT", 60),
        (Unit::Auto, "Sat Jun  1 09:01:00 2024", 60),
    ];
    for (unit, text, want) in cases {
        assert_eq!(parse_seconds_until(text, *unit, now), Ok(*want), "{unit:?} {text:?}");
    }
    let rejected: &[(Unit, &str)] = &[
        (Unit::DeltaSeconds, "-1"),
        (Unit::DeltaSeconds, "+1"),
        (Unit::DeltaSeconds, "1."),
        (Unit::DeltaSeconds, ".5"),
        (Unit::DeltaSeconds, "1e3"),
        (Unit::DeltaSeconds, "inf"),
        (Unit::DeltaSeconds, "NaN"),
        (Unit::DeltaSeconds, "1.2.3"),
        (Unit::DeltaSeconds, "18446744073709551616"),
        (Unit::DeltaSeconds, "18446744073709551615.5"),
        (Unit::DeltaMillis, "10s"),
        (Unit::EpochSeconds, "946684799"),
        (Unit::EpochSeconds, "32503680001"),
        (Unit::EpochMillis, "1717232410"),
        (Unit::EpochMillis, "99999999999999999999999999"),
        (Unit::HttpDate, "2024-06-01T09:00Z"),
        (Unit::HttpDate, "120"),
        (Unit::Iso8601, "2024-06-01T09:00"),
        (Unit::Iso8601, "2024-06-01"),
        (Unit::Iso8601, "1717232410"),
        (Unit::Iso8601, "2024-13-01T09:00Z"),
        (Unit::Auto, "-1"),
        (Unit::Auto, "1e3"),
        (Unit::Auto, "2024-06-01T09:00Z"),
        (Unit::Auto, ""),
    ];
    for (unit, text) in rejected {
        assert!(parse_seconds_until(text, *unit, now).is_err(), "{unit:?} {text:?} should be rejected");
    }
}

#[test]
fn prefix_selects_an_entry() {
    use parse::strip_prefix;
    assert_eq!(strip_prefix("api-usage=10018/100000", Some("api-usage=")), Ok("10018/100000"));
    assert_eq!(strip_prefix("per-app-api-usage=17/250(appName=x); api-usage=5/10", Some("api-usage=")), Ok("5/10"));
    assert_eq!(strip_prefix("total=100; remaining=99; resets=41", Some("remaining=")), Ok("99"));
    assert_eq!(strip_prefix("32/40", None), Ok("32/40"));
    assert_eq!(strip_prefix("32/40", Some("")), Ok("32/40"));
    assert_eq!(strip_prefix("api-usage", Some("api-usage=")), Err(ParseError::MissingPrefix));
}

// ---------- headers() ----------

#[test]
fn headers_only_from_known_inputs() {
    assert_eq!(RateLimitStatus::default().headers(), vec![]);
    // A window or a reset alone makes no structured field: `q` and `r` are required.
    let partial = RateLimitStatus { reset_seconds: Some(5), window_seconds: Some(60), ..Default::default() };
    assert_eq!(partial.headers(), vec![("ratelimit-reset", "5".to_string())]);
    // Retry-After only when limited.
    let not_limited = RateLimitStatus { retry_after_seconds: Some(3), ..Default::default() };
    assert_eq!(not_limited.headers(), vec![]);
    let limited = RateLimitStatus { limited: true, retry_after_seconds: Some(3), ..Default::default() };
    assert_eq!(limited.headers(), vec![("Retry-After", "3".to_string())]);
    // Beyond a Structured Field integer (15 digits): the early-draft headers still carry the
    // number; a required parameter drops the field, an optional one drops the parameter.
    let huge = RateLimitStatus {
        limit: Some(1_000_000_000_000_000),
        remaining: Some(7),
        reset_seconds: Some(u64::MAX),
        window_seconds: Some(u64::MAX),
        ..Default::default()
    };
    assert_eq!(
        huge.headers(),
        vec![
            ("ratelimit-limit", "1000000000000000".to_string()),
            ("ratelimit-remaining", "7".to_string()),
            ("ratelimit-reset", u64::MAX.to_string()),
            ("RateLimit", r#""default";r=7"#.to_string()),
        ]
    );
}

#[test]
fn structured_fields_parse_back() {
    // The emitted fields are valid RFC 9651 lists.
    let status = expect(true, Some(100), Some(0), Some(10), Some(3), Some(10));
    for (name, value) in status.headers() {
        if name.starts_with("RateLimit") {
            let list = sfv::Parser::new(&value).parse::<sfv::List>();
            assert!(list.is_ok(), "{name}: {value}");
        }
    }
}

#[test]
fn header_map_lowercases_names() {
    let status = expect(true, Some(100), Some(0), Some(10), Some(3), Some(10));
    let map = status.header_map();
    let names: Vec<&str> = map.keys().map(|k| k.as_str()).collect();
    assert_eq!(names, ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "ratelimit-policy", "ratelimit", "retry-after"]);
    assert_eq!(map["ratelimit-policy"], r#""default";q=100;w=10"#);
    assert_eq!(map["retry-after"], "3");
}

// ---------- no panics ----------

#[test]
fn inspect_never_panics_on_odd_values() {
    let mut odd: Vec<Vec<u8>> = [
        "",
        " ",
        "\t",
        "0",
        "-0",
        "00",
        "-1",
        "+1",
        "1.",
        ".1",
        "1..2",
        "1.2.3",
        "1e308",
        "1e-308",
        "inf",
        "-inf",
        "NaN",
        "nan",
        "0x1F",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999999999999999999999",
        "340282366920938463463374607431768211456",
        "0.99999999999999999999999999999999999999",
        "1/0",
        "0/0",
        "/",
        "//",
        "1//2",
        "9999999999999999999/1",
        "1/9999999999999999999",
        "api-usage=",
        "api-usage=/",
        "api-usage=1/2;",
        ";;;",
        ",,,",
        "=",
        "Tue, 23 May 2023 14:42:01 GMT",
        "Tue, 23 May 2023 14:42:01",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "2024-06-01T09:00Z",
        "9999-12-31T23:59Z",
        "0000-01-01T00:00Z",
        "+262143-12-31T23:59:59Z",
        "2024-02-30T09:00Z",
        "2024-06-01T24:00Z",
        "2024-06-01T09:00+99:99",
        "2024-06-01T09:00:60Z",
        "1655120964",
        "1655120964000",
        "-1655120964",
        "32503680000",
        "32503680000000",
        "٣",
        "🦀",
        "é",
        "1\u{0}",
        "true",
        "null",
        "[1]",
        "{\"a\":1}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    odd.push(vec![0x80, 0xff, b'1']);
    odd.push(vec![b'1'; 10_000]);
    odd.push(b"1.".iter().chain([b'9'; 5000].iter()).copied().collect());
    // Pseudo-random printable and obs-text strings (xorshift, fixed seed: reproducible).
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let alphabet = b"0123456789./:-+ ,;=TZtzeE GMTSunMonTueJanFebapi-usage\t";
    for _ in 0..800 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 24) as usize;
        let mut s = Vec::with_capacity(len);
        let mut x = seed;
        for _ in 0..len {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let pick = (x >> 33) as usize;
            s.push(if pick % 17 == 0 { 0x80 + (pick % 0x7f) as u8 } else { alphabet[pick % alphabet.len()] });
        }
        odd.push(s);
    }

    let units = [
        TimeUnit::DeltaSeconds,
        TimeUnit::DeltaMillis,
        TimeUnit::EpochSeconds,
        TimeUnit::EpochMillis,
        TimeUnit::HttpDate,
        TimeUnit::Iso8601,
    ];
    let retry_units = [
        RetryAfterUnit::Auto,
        RetryAfterUnit::DeltaSeconds,
        RetryAfterUnit::DeltaMillis,
        RetryAfterUnit::EpochSeconds,
        RetryAfterUnit::EpochMillis,
        RetryAfterUnit::HttpDate,
        RetryAfterUnit::Iso8601,
    ];
    let nows =
        [UNIX_EPOCH, at("2024-06-01T09:00:00Z"), UNIX_EPOCH + Duration::from_secs(1 << 40), UNIX_EPOCH - Duration::from_secs(1 << 30)];
    let defs: Vec<RateLimit> = (0..retry_units.len())
        .flat_map(|i| {
            [NumberFormat::Number, NumberFormat::UsedOfLimit].into_iter().flat_map(move |format| {
                [None, Some("api-usage=")].into_iter().map(move |prefix| RateLimit {
                    limited_when: vec![on_header(&[429], "x-odd", Some("0")), on_header(&[429], "x-odd", None)],
                    limit: Some(HeaderValue { header: "x-odd".into(), format, prefix: prefix.map(Into::into) }),
                    remaining: Some(HeaderValue { header: "x-odd".into(), format, prefix: prefix.map(Into::into) }),
                    reset: reset("x-odd", units[i % units.len()]),
                    retry_after: retry("x-odd", retry_units[i]),
                    window_seconds: Some(u64::MAX),
                })
            })
        })
        .collect();

    let name = HeaderName::from_static("x-odd");
    for value in &odd {
        let Ok(value) = HttpValue::from_bytes(value) else { continue };
        let mut headers = HeaderMap::new();
        headers.append(name.clone(), value.clone());
        let mut twice = headers.clone();
        twice.append(name.clone(), HttpValue::from_static("7"));
        for def in &defs {
            for now in nows {
                for headers in [&headers, &twice] {
                    let response = ResponseParts { status: 429, headers, body: None };
                    let got = inspect_detailed(def, &response, now, &body_matches);
                    let _ = got.status.headers();
                    let _ = got.status.header_map();
                    for problem in &got.problems {
                        assert!(problem.value.chars().count() <= 64);
                        let _ = problem.to_string();
                    }
                    // A read value is never a guess: remaining never exceeds the limit it came with.
                    if def.limit.as_ref().is_some_and(|l| l.format == NumberFormat::UsedOfLimit) {
                        if let (Some(limit), Some(remaining)) = (got.status.limit, got.status.remaining) {
                            assert!(remaining <= limit, "{value:?}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn one_list_header_holds_limit_remaining_and_reset() {
    let entry = |prefix: &str| Some(HeaderValue { header: "ratelimit".into(), format: NumberFormat::Number, prefix: Some(prefix.into()) });
    let def = RateLimit {
        limited_when: vec![on(&[429])],
        limit: entry("limit="),
        remaining: entry("remaining="),
        reset: Some(ResetHeader { header: "ratelimit".into(), unit: TimeUnit::DeltaSeconds, prefix: Some("reset=".into()) }),
        retry_after: retry("Retry-After", RetryAfterUnit::Auto),
        window_seconds: Some(60),
    };
    let headers = header_map(&[("ratelimit", "limit=240, remaining=0, reset=4")]);
    let response = ResponseParts { status: 429, headers: &headers, body: None };
    let status = inspect(&def, &response, SystemTime::UNIX_EPOCH + Duration::from_secs(1_717_232_400), &|_, _| false);
    assert_eq!((status.limited, status.limit, status.remaining, status.reset_seconds), (true, Some(240), Some(0), Some(4)));
}

#[test]
fn a_semicolon_separated_key_value_header_is_read_by_prefixes() {
    // An endpoint-specific header of the shape `total=100; remaining=99; resets=41`.
    let entry =
        |prefix: &str| Some(HeaderValue { header: "x-endpoint-limit".into(), format: NumberFormat::Number, prefix: Some(prefix.into()) });
    let def = RateLimit {
        limited_when: vec![on(&[429])],
        limit: entry("total="),
        remaining: entry("remaining="),
        reset: Some(ResetHeader { header: "x-endpoint-limit".into(), unit: TimeUnit::DeltaSeconds, prefix: Some("resets=".into()) }),
        retry_after: retry("Retry-After", RetryAfterUnit::Auto),
        window_seconds: Some(60),
    };
    let headers = header_map(&[("x-endpoint-limit", "total=100; remaining=99; resets=41")]);
    let response = ResponseParts { status: 200, headers: &headers, body: None };
    let status = inspect(&def, &response, SystemTime::UNIX_EPOCH + Duration::from_secs(1_717_232_400), &|_, _| false);
    assert_eq!(
        status.headers(),
        vec![
            ("ratelimit-limit", "100".to_string()),
            ("ratelimit-remaining", "99".to_string()),
            ("ratelimit-reset", "41".to_string()),
            ("RateLimit-Policy", "\"default\";q=100;w=60".to_string()),
            ("RateLimit", "\"default\";r=99;t=41".to_string()),
        ]
    );
}
