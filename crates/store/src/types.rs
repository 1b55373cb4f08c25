//! Column types that must behave the same on both backends.

use jiff::Timestamp;
use jiff_sqlx::ToSqlx;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef, Postgres};
use sqlx::sqlite::{Sqlite, SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Type};

/// A UTC instant. PostgreSQL stores `timestamptz`; SQLite stores fixed-width RFC 3339 text
/// (`2026-11-26T15:04:05.123456Z`) so that text order is time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ts(pub Timestamp);

impl Ts {
    fn sqlite_text(self) -> String {
        let micros = self.0.subsec_microsecond();
        format!("{}.{micros:06}Z", self.0.strftime("%Y-%m-%dT%H:%M:%S"))
    }
}

impl Type<Sqlite> for Ts {
    fn type_info() -> SqliteTypeInfo {
        <str as Type<Sqlite>>::type_info()
    }
}

impl Encode<'_, Sqlite> for Ts {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(self.sqlite_text(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Ts {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        Ok(Ts(text.parse()?))
    }
}

impl Type<Postgres> for Ts {
    fn type_info() -> PgTypeInfo {
        <jiff_sqlx::Timestamp as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Ts {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Postgres>::encode(self.0.to_sqlx(), buf)
    }
}

impl<'r> Decode<'r, Postgres> for Ts {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        let t = <jiff_sqlx::Timestamp as Decode<Postgres>>::decode(value)?;
        Ok(Ts(t.to_jiff()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_text_is_fixed_width_so_text_order_is_time_order() {
        let a = Ts(Timestamp::from_microsecond(1_700_000_000_100_000).expect("valid"));
        let b = Ts(Timestamp::from_microsecond(1_700_000_000_123_456).expect("valid"));
        assert_eq!(a.sqlite_text(), "2023-11-14T22:13:20.100000Z");
        assert!(a.sqlite_text() < b.sqlite_text());
        assert_eq!(b.sqlite_text().parse::<Timestamp>().ok(), Some(b.0));
    }
}
