//! `kapstone user list|deactivate|reactivate|reset-mfa|sign-out` on a real database.

mod support;
use support::{kapstone, ok};

#[test]
fn an_operator_deactivates_and_reactivates_a_staff_account() {
    let url = kapstone_store::testing::sqlite_url();
    ok(&kapstone(&[
        "clinic",
        "create",
        "--db",
        &url,
        "--name",
        "C",
        "--time-zone",
        "UTC",
    ]));
    for (email, role) in [("admin@c.test", "admin"), ("dr@c.test", "prescriber")] {
        ok(&kapstone(&[
            "user", "add", "--db", &url, "--email", email, "--role", role,
        ]));
    }
    let list = ok(&kapstone(&["user", "list", "--db", &url]));
    assert!(list.contains("dr@c.test\tprescriber\tactive"), "{list}");

    let out = ok(&kapstone(&[
        "user",
        "deactivate",
        "--db",
        &url,
        "--email",
        "dr@c.test",
    ]));
    assert!(out.contains("deactivated; every session ended"), "{out}");
    let list = ok(&kapstone(&["user", "list", "--db", &url]));
    assert!(
        list.contains("dr@c.test\tprescriber\tdeactivated"),
        "{list}"
    );
    ok(&kapstone(&[
        "user",
        "reactivate",
        "--db",
        &url,
        "--email",
        "dr@c.test",
    ]));
    ok(&kapstone(&[
        "user",
        "reset-mfa",
        "--db",
        &url,
        "--email",
        "dr@c.test",
    ]));
    ok(&kapstone(&[
        "user",
        "sign-out",
        "--db",
        &url,
        "--email",
        "dr@c.test",
    ]));
    let list = ok(&kapstone(&["user", "list", "--db", &url]));
    assert!(list.contains("dr@c.test\tprescriber\tactive"), "{list}");

    // The last admin stays; an unknown address is named.
    let out = kapstone(&[
        "user",
        "deactivate",
        "--db",
        &url,
        "--email",
        "admin@c.test",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("last active admin"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = kapstone(&[
        "user",
        "deactivate",
        "--db",
        &url,
        "--email",
        "nobody@c.test",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--email: no staff account nobody@c.test")
    );
    let verify = ok(&kapstone(&["audit", "verify", "--db", &url]));
    assert!(verify.contains("intact"), "{verify}");
}
