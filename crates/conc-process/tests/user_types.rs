//! Users' own serde types crossing every path, under every start method: a derived
//! struct and enum (with nested collections, options and a map) as argument and result,
//! on a Connection, through a Queue, as a pool task's argument and result; and the serde features the formats cannot carry
//! fail with a clear error instead of a wrong value.

mod common;

use std::collections::BTreeMap;

use common::PATIENCE;
use conc_process::{Connection, Pool, ProcessError, Queue, get_context, pipe};
use serde::{Deserialize, Serialize};

conc_process::test_support!();

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Order {
    id: u64,
    items: Vec<String>,
    stock: BTreeMap<String, i32>,
    note: Option<String>,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Kind {
    Plain,
    Gift { to: String, wrap: bool },
    Split(u8, u8),
}

fn order(id: u64, kind: Kind) -> Order {
    Order {
        id,
        items: vec!["tea".into(), "cups".into()],
        stock: [("tea".to_string(), 3), ("cups".to_string(), -1)].into(),
        note: id.is_multiple_of(2).then(|| format!("order {id}")),
        kind,
    }
}

/// Echoes every path back: the argument as the result, each connection message back on
/// the connection, each queue item into the reply queue.
fn echo(
    (first, conn, inbox, outbox): (Order, Connection<Kind>, Queue<Order>, Queue<Order>),
) -> Order {
    let kind = conn.recv().expect("a kind");
    conn.send(kind).expect("echo the kind");
    let item = inbox.get().expect("an order");
    outbox.put(item).expect("echo the order");
    outbox.join_thread();
    first
}

each_method! {
    fn user_types_cross_every_path(method: StartMethod) {
        let (mine, theirs) = pipe::<Kind>(true).unwrap();
        let (inbox, outbox) = (Queue::new(0).unwrap(), Queue::new(0).unwrap());
        let arg = order(1, Kind::Gift { to: "Ada".into(), wrap: true });
        let p = get_context(method).process(echo, (arg.clone(), theirs, inbox.clone(), outbox.clone()));
        p.start().unwrap();
        mine.send(Kind::Split(2, 3)).unwrap();
        let through_queue = order(2, Kind::Plain);
        inbox.put(&through_queue).unwrap();
        assert_eq!(mine.recv_timeout(PATIENCE).unwrap(), Kind::Split(2, 3));
        assert_eq!(outbox.get_timeout(PATIENCE).unwrap(), through_queue);
        assert_eq!(p.result().unwrap(), arg);
    }
}

/// A pool task over users' types: turns a plain order into a gift for `to`.
fn gift((mut o, to): (Order, String)) -> Order {
    o.kind = Kind::Gift {
        to,
        wrap: o.id % 2 == 0,
    };
    o.items.push("ribbon".into());
    o
}

each_method! {
    fn user_types_are_pool_task_arguments_and_results(method: StartMethod) {
        let pool = Pool::builder().processes(2).start_method(method).build().unwrap();
        let orders: Vec<(Order, String)> =
            (0..4).map(|id| (order(id, Kind::Split(1, 2)), format!("friend {id}"))).collect();
        let expected: Vec<Order> = orders.iter().cloned().map(gift).collect();
        assert_eq!(pool.apply(gift, orders[0].clone()).unwrap(), expected[0]);
        assert_eq!(pool.map(gift, orders).unwrap(), expected);
        pool.close();
        pool.join().unwrap();
    }
}

/// A type postcard cannot decode: `untagged` needs a self-describing format.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Loose {
    Number(u32),
    Text(String),
}

#[test]
fn a_format_the_encoding_cannot_carry_is_an_error_not_a_wrong_value() {
    let q: Queue<Loose> = Queue::new(0).unwrap();
    q.put(Loose::Text("x".into())).unwrap();
    match q.get_timeout(PATIENCE) {
        Err(ProcessError::Serialization(why)) => assert!(!why.is_empty()),
        other => panic!("expected a serialization error, got {other:?}"),
    }
}

#[test]
fn an_item_larger_than_the_queue_buffer_is_refused_at_put() {
    let q: Queue<Vec<u8>> = Queue::with_buffer(0, 1024).unwrap();
    match q.put(vec![7_u8; 4096]) {
        Err(ProcessError::InvalidArgument(why)) => assert!(why.contains("larger than"), "{why}"),
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
    q.put(vec![7_u8; 16]).unwrap();
    assert_eq!(q.get_timeout(PATIENCE).unwrap(), vec![7_u8; 16]);
}
