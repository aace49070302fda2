//! Your own types across processes: a `#[derive(Serialize, Deserialize)]` struct and
//! enum as a process argument and result, on a `Pipe`, through a `Queue`, and as a
//! `Pool` task's argument and result.
//!
//! Not a seed scenario of its own: the seeds pass lists, dicts and strings, which Python
//! pickles without being asked. In Rust the same works for any type that derives serde's
//! two traits; `conc_process`'s crate docs list the formats and size limits in one place.
//!
//! How Rust differs: both ends are typed (`Connection<Event>`, `Queue<Option<Order>>`), so a
//! receiver cannot get a value of a shape it does not expect; a type that serde cannot
//! encode is a compile error, not a runtime `PicklingError`.

use serde::{Deserialize, Serialize};

use conc_process::{Connection, Pool, Process, Queue, pipe};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Order {
    id: u32,
    items: Vec<String>,
    priority: Priority,
    note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum Priority {
    Low,
    High,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Event {
    Packed { order: u32, boxes: u8 },
    Delayed(u32, String),
    Done,
}

/// The worker: takes its orders from a queue, reports events on a pipe, and returns a
/// summary of what it did.
fn worker((orders, events): (Queue<Option<Order>>, Connection<Event>)) -> (u32, Vec<Priority>) {
    let mut handled = 0;
    let mut priorities = Vec::new();
    while let Some(order) = orders.get().expect("an order") {
        let event = match order.note {
            Some(why) => Event::Delayed(order.id, why),
            None => Event::Packed {
                order: order.id,
                boxes: order.items.len() as u8,
            },
        };
        events.send(event).expect("send");
        priorities.push(order.priority);
        handled += 1;
    }
    events.send(Event::Done).expect("send");
    (handled, priorities)
}

/// A pool task: how urgent an order is, from its own fields.
fn triage(order: Order) -> (u32, Priority) {
    let priority = if order.note.is_some() || order.items.len() > 1 {
        Priority::High
    } else {
        Priority::Low
    };
    (order.id, priority)
}

fn main() {
    conc_process::init();

    examples::heading("a struct through a Queue, an enum on a Pipe, a tuple back as the result");
    let orders: Queue<Option<Order>> = Queue::new(0).expect("queue");
    let (events_rx, events_tx) = pipe::<Event>(true).expect("pipe");
    let p = Process::new(worker, (orders.clone(), events_tx));
    p.start().expect("start");

    let sent = vec![
        Order {
            id: 1,
            items: vec!["tea".into(), "cups".into()],
            priority: Priority::High,
            note: None,
        },
        Order {
            id: 2,
            items: vec!["kettle".into()],
            priority: Priority::Low,
            note: Some("out of stock".into()),
        },
    ];
    for order in &sent {
        orders.put(Some(order.clone())).expect("put");
    }
    orders.put(None).expect("put the end marker");

    let mut events = Vec::new();
    loop {
        let event = events_rx.recv().expect("an event");
        println!("  event: {event:?}");
        if event == Event::Done {
            break;
        }
        events.push(event);
    }
    let (handled, priorities) = p.result().expect("the worker's summary");
    println!("  the worker handled {handled} orders, priorities {priorities:?}");
    assert_eq!(handled, 2);
    assert_eq!(priorities, [Priority::High, Priority::Low]);
    assert_eq!(
        events,
        [
            Event::Packed { order: 1, boxes: 2 },
            Event::Delayed(2, "out of stock".into()),
        ]
    );
    println!("-> a struct, an enum and a tuple crossed, typed at both ends");

    examples::heading("the same struct as a Pool task's argument, an enum in its result");
    let pool = Pool::new(2).expect("a pool");
    let triaged = pool.map(triage, sent).expect("every task ran");
    println!("  triaged: {triaged:?}");
    assert_eq!(triaged, [(1, Priority::High), (2, Priority::High)]);
    pool.close();
    pool.join().expect("the workers exit");
}
