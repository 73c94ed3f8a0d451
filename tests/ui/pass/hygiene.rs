// The generated code must not depend on names the user may shadow.
#![allow(dead_code, non_camel_case_types)]

mod shadowing {
    type Result = ();
    type Option = ();
    struct Some;
    struct None;
    type String = ();
    type Vec = ();
    type Box = ();
    mod std {}
    mod core {}
    mod event_core {}
    mod serde {}
    mod schemars {}
    mod inventory {}
    trait Debug {}
    trait Event {}

    #[derive(::event_core::Event)]
    #[event(kind = "business")]
    pub struct OrderPlaced {
        pub order_id: u64,
        pub note: ::core::option::Option<::std::string::String>,
        #[event(mask)]
        pub card_number: ::std::string::String,
        #[event(hash)]
        pub email: ::std::string::String,
        #[event(redact)]
        pub password: ::std::string::String,
        #[event(skip)]
        pub raw: ::std::vec::Vec<u8>,
        #[event(error)]
        pub error: ::core::option::Option<::std::io::Error>,
    }

    pub fn check() {
        let order = OrderPlaced {
            order_id: 1,
            note: ::core::option::Option::None,
            card_number: "4111111111111111".into(),
            email: "a@b.c".into(),
            password: "p".into(),
            raw: ::std::vec::Vec::new(),
            error: ::core::option::Option::Some(::std::io::Error::other("disk full")),
        };
        ::std::println!("{order:?}");
        let _ = <OrderPlaced as ::event_core::Event>::schema();
    }
}

fn main() {
    shadowing::check();
}
