//! The error codes of the function library. JSONata's codes are one letter and four digits
//! (`T0410`, `D3030`); ours use the letter `F`, which JSONata does not. Never reuse a code
//! once released: add a new one.

/// An argument has the right type but a value the function does not accept: an unknown
/// format, algorithm, encoding or option.
pub const BAD_ARGUMENT: &str = "F0101";
/// `$parseDate`/`$formatDate`: the text (or number) is not a date in the given format.
pub const BAD_DATE: &str = "F0201";
/// `$parseDate`/`$formatDate`: the date is outside the years 0000 to 9999.
pub const DATE_OUT_OF_RANGE: &str = "F0202";
/// `$parseUrl`: the text is not a URL.
pub const BAD_URL: &str = "F0301";
/// `$groupBy`/`$keyBy`: the key expression does not parse.
pub const BAD_KEY_EXPRESSION: &str = "F0401";
/// `$groupBy`/`$keyBy`: a key is not a string, number or boolean.
pub const BAD_KEY: &str = "F0402";
/// `$jsonParse`: the JSON nests deeper than the mapping's input depth limit.
pub const JSON_TOO_DEEP: &str = "F0501";

/// Every code with its meaning, for `docs/functions.md`.
pub const ALL: &[(&str, &str)] = &[
    (BAD_ARGUMENT, "an argument has a value the function does not accept (an unknown format, algorithm, encoding or option)"),
    (BAD_DATE, "`$parseDate`/`$formatDate`: the value is not a date in the given format"),
    (DATE_OUT_OF_RANGE, "`$parseDate`/`$formatDate`: the date is outside the years 0000 to 9999"),
    (BAD_URL, "`$parseUrl`: the text is not a URL"),
    (BAD_KEY_EXPRESSION, "`$groupBy`/`$keyBy`: the key expression does not parse"),
    (BAD_KEY, "`$groupBy`/`$keyBy`: a key is not a string, number or boolean"),
    (JSON_TOO_DEEP, "`$jsonParse`: the JSON nests deeper than the mapping's input depth limit"),
];
