//! The frozen clock (`EvalOptions::now_millis`): `$now()` and `$millis()` replaced, so fixtures
//! and snapshots do not depend on when they run.

use super::datetime::format_iso;
use super::Call;
use jsonata_core::evaluator::{Context, Evaluator, EvaluatorError};
use jsonata_core::value::JValue;
use std::rc::Rc;

/// Replaces `$now` and `$millis` in `evaluator` with a clock stopped at `now` (epoch ms).
/// `$now(picture, timezone)` formats as the built-in does (it runs `$fromMillis`).
pub(crate) fn freeze(evaluator: &mut Evaluator, now: i64, call: &Rc<Call>) {
    let millis = evaluator.register_fn_override("millis", move |_: &[JValue]| Ok(JValue::Number(now as f64)));
    let call = Rc::clone(call);
    let now_fn = evaluator.register_fn_override("now", move |args: &[JValue]| -> Result<JValue, EvaluatorError> {
        if args.iter().all(|a| matches!(a, JValue::Undefined)) {
            return Ok(JValue::string(format_iso(now, 0)?));
        }
        let mut context = Context::new();
        context.bind("m".into(), JValue::Number(now as f64));
        context.bind("p".into(), args.first().cloned().unwrap_or(JValue::Undefined));
        context.bind("t".into(), args.get(1).cloned().unwrap_or(JValue::Undefined));
        let ast = jsonata_core::parser::parse("$fromMillis($m, $p, $t)").map_err(|e| EvaluatorError::EvaluationError(e.to_string()))?;
        Evaluator::with_options(context, call.nested_options()).evaluate(&ast, &JValue::Null)
    });
    debug_assert!(millis.is_ok() && now_fn.is_ok(), "$now and $millis can be overridden");
}
