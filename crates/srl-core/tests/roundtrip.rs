//! Property: every constructible call survives render -> parse unchanged, also with text around it.

use proptest::prelude::*;
use srl_core::{ToolCall, parse_completion};

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("bash".to_string()),
        Just("str_replace_editor".to_string()),
        Just("submit".to_string()),
        "[a-z_][a-z0-9_./=-]{0,12}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        ".*",
        "[ \t\n]{0,2}[a-z<>/=\"' \n]{0,40}[ \n]{0,2}",
        proptest::collection::vec(
            prop_oneof![
                Just("</parameter>".to_string()),
                Just("<parameter=x>".to_string()),
                Just("</function>".to_string()),
                Just("<function=bash>".to_string()),
                Just("\n".to_string()),
                Just(" ".to_string()),
                "[a-zé😀]{1,4}",
            ],
            0..8
        )
        .prop_map(|v| v.concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parse_render_roundtrip(n in name(), params in proptest::collection::vec(("[a-z_]{1,10}", value()), 0..5)) {
        let Ok(call) = ToolCall::new(n, params) else { return Ok(()) };
        let rendered = call.render();
        let back: ToolCall = rendered.parse().map_err(|e| TestCaseError::fail(format!("{e}: {rendered:?}")))?;
        prop_assert_eq!(&back, &call);
        let (thought, again) = ToolCall::split_thought(&format!("Some reasoning.\n\n{rendered}")).unwrap();
        prop_assert_eq!(thought, "Some reasoning.");
        prop_assert_eq!(&again, &call);
        let (_, c) = parse_completion(&format!("<think>\nwhy\n</think>\n{rendered}")).unwrap();
        prop_assert_eq!(c, call);
    }
}
