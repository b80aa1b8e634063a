//! What a call is charged when its real usage is not known: the rules the
//! gate applies to an expired hold and to a call that broke off.

/// Tokens charged for one call, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Charge {
    /// Input (prompt) tokens.
    pub input_tokens: u64,
    /// Output (completion) tokens.
    pub output_tokens: u64,
}

/// The charge of a call that broke off before its provider reported its
/// usage (a stream cut, a body broken off, an answer without usage): the
/// hold, with its input part lowered to the provider's own input count when
/// the provider already reported a smaller one. Never zero (the provider may
/// have run the call, and may keep generating up to the output bound that
/// was held) and never more than the hold, whatever a broken or lying
/// upstream reported.
///
/// # Example
/// ```
/// use ai_budget::charge::{broken_off, Charge};
///
/// // Anthropic's message_start said 90 input tokens, then the stream broke.
/// assert_eq!(broken_off(120, 300, Some(90)), Charge { input_tokens: 90, output_tokens: 300 });
/// // A count above the hold is not believed: the hold is the most charged.
/// assert_eq!(broken_off(120, 300, Some(1_000_000_000)), Charge { input_tokens: 120, output_tokens: 300 });
/// ```
pub fn broken_off(held_input: u64, held_output: u64, reported_input: Option<u64>) -> Charge {
    Charge {
        input_tokens: reported_input.map_or(held_input, |n| n.min(held_input)),
        output_tokens: held_output,
    }
}

/// The charge of a hold that expired unsettled: its whole estimate, as
/// input (the call probably happened, and its size is unknown), until a late
/// commit replaces it with the real usage.
pub fn expired_hold(estimated_tokens: u64) -> Charge {
    Charge {
        input_tokens: estimated_tokens,
        output_tokens: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_off_call_is_charged_its_hold_when_no_input_was_reported() {
        assert_eq!(
            broken_off(10, 20, None),
            Charge {
                input_tokens: 10,
                output_tokens: 20
            }
        );
    }

    #[test]
    fn a_broken_off_call_is_never_charged_more_than_its_hold() {
        for reported in [0, 9, 10, 11, u64::MAX] {
            let charge = broken_off(10, 20, Some(reported));
            assert!(charge.input_tokens <= 10, "{reported}");
            assert_eq!(charge.input_tokens, reported.min(10));
            assert_eq!(charge.output_tokens, 20);
        }
    }

    #[test]
    fn an_expired_hold_is_charged_its_estimate() {
        assert_eq!(
            expired_hold(400).input_tokens + expired_hold(400).output_tokens,
            400
        );
    }
}
