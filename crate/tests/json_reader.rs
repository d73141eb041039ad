//! The tests' own JSON reader, on the parts of the grammar the vector files use.

mod common;

use common::Json;

#[test]
fn parses_values_escapes_and_nesting() {
    let v = Json::parse(
        r#" { "a": [1, -2.5e1, true, false, null], "s": "x\"\\\/\n\u00e9\ud83d\ude00", "o": {} , "e": [] } "#,
    );
    assert_eq!(v.get("a").arr()[1].num(), -25.0);
    assert_eq!(v.get("a").arr()[2], Json::Bool(true));
    assert_eq!(v.get("s").str(), "x\"\\/\né😀");
    assert_eq!(v.get("o"), &Json::Obj(vec![]));
    assert_eq!(v.get("e").arr().len(), 0);
}
