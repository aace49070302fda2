//! `Manager`: CPython's `_TestContainers` and `_TestManagerRestart` where they apply
//! (Lib/test/_test_multiprocessing.py), proxies used from children of every start
//! method and from pool workers, and the faults: a dead manager, a lock holder that
//! dies.

mod common;

use std::time::{Duration, Instant};

use common::PATIENCE;
use conc_process::{
    DictProxy, ListProxy, LockProxy, Manager, Pool, Process, ProcessError, QueueProxy, StartMethod,
    ValueProxy,
};

conc_process::test_support!();

/// `_TestContainers.test_list`, `test_dict`, `test_namespace`.
#[test]
fn containers_behave_like_pythons() {
    let manager = Manager::with_start_method(StartMethod::Fork).unwrap();
    let l = manager.list(0..10).unwrap();
    assert_eq!(l.to_vec().unwrap(), (0..10).collect::<Vec<_>>());
    assert_eq!(l.len().unwrap(), 10);
    l.extend([10, 11]).unwrap();
    assert_eq!(l.get(-1).unwrap(), 11);
    l.set(0, &100).unwrap();
    l.delete(1).unwrap();
    assert_eq!(l.pop_at(0).unwrap(), 100);
    assert_eq!(l.index(&5).unwrap(), Some(3));
    assert_eq!(l.index(&55).unwrap(), None);
    assert_eq!(l.count(&5).unwrap(), 1);
    l.remove(&5).unwrap();
    assert!(
        matches!(l.remove(&5), Err(ProcessError::InvalidArgument(m)) if m.contains("not in list"))
    );
    assert!(
        matches!(l.get(100), Err(ProcessError::InvalidArgument(m)) if m.contains("out of range"))
    );
    l.insert(-100, &-1).unwrap();
    l.insert(100, &99).unwrap();
    assert_eq!(l.get(0).unwrap(), -1);
    assert_eq!(l.get(-1).unwrap(), 99);
    l.clear().unwrap();
    assert!(l.is_empty().unwrap());
    assert!(matches!(l.pop(), Err(ProcessError::InvalidArgument(m)) if m.contains("empty")));

    let d = manager.dict::<(u8, String), Vec<u32>>().unwrap();
    for i in 0..5u8 {
        d.insert(&(i, i.to_string()), &vec![u32::from(i); usize::from(i)])
            .unwrap();
    }
    assert_eq!(d.len().unwrap(), 5);
    assert_eq!(d.get(&(3, "3".into())).unwrap(), Some(vec![3, 3, 3]));
    assert_eq!(d.get(&(3, "x".into())).unwrap(), None);
    assert_eq!(d.keys().unwrap()[4], (4, "4".into()), "insertion order");
    d.insert(&(0, "0".into()), &vec![7]).unwrap();
    assert_eq!(
        d.items().unwrap()[0],
        ((0, "0".into()), vec![7]),
        "a new value keeps its place"
    );
    assert_eq!(d.setdefault(&(9, "9".into()), &vec![9]).unwrap(), vec![9]);
    assert_eq!(d.setdefault(&(9, "9".into()), &vec![0]).unwrap(), vec![9]);
    assert!(d.remove(&(9, "9".into())).unwrap());
    assert!(!d.remove(&(9, "9".into())).unwrap());
    assert_eq!(d.values().unwrap().len(), 5);
    d.clear().unwrap();
    assert!(d.is_empty().unwrap());

    let ns = manager.namespace().unwrap();
    ns.set("name", "Bob").unwrap();
    ns.set("job", &("Builder", 3u8)).unwrap();
    assert_eq!(ns.get::<String>("name").unwrap().as_deref(), Some("Bob"));
    assert_eq!(
        ns.get::<(String, u8)>("job").unwrap(),
        Some(("Builder".into(), 3))
    );
    assert!(matches!(
        ns.get::<Vec<u64>>("name"),
        Err(ProcessError::Serialization(_)) | Ok(_)
    ));
    assert_eq!(ns.names().unwrap(), ["name", "job"]);
}

fn fill((d, l, v, n): (DictProxy<String, u32>, ListProxy<u32>, ValueProxy<f64>, u32)) {
    d.insert(&format!("child-{n}"), &n).unwrap();
    l.append(&n).unwrap();
    v.set(&2.718_5).unwrap();
}

/// Seed 001 §3.5: a `Manager` dict and list filled by several processes, with every
/// start method for the children and for the server.
#[test]
fn children_of_every_start_method_share_the_objects() {
    for server in [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ] {
        let manager = Manager::with_start_method(server).unwrap();
        let d = manager.dict().unwrap();
        let l = manager.list(Vec::new()).unwrap();
        let v = manager.value(0.0).unwrap();
        let methods = [
            StartMethod::Fork,
            StartMethod::Spawn,
            StartMethod::Forkserver,
        ];
        let kids: Vec<_> = methods
            .iter()
            .enumerate()
            .map(|(n, m)| {
                let p = Process::new(fill, (d.clone(), l.clone(), v.clone(), n as u32))
                    .start_method(*m);
                p.start().unwrap();
                p
            })
            .collect();
        for k in &kids {
            k.join().unwrap();
        }
        let mut values = l.to_vec().unwrap();
        values.sort_unstable();
        assert_eq!(values, [0, 1, 2], "server {server:?}");
        assert_eq!(d.len().unwrap(), 3);
        assert_eq!(d.get(&"child-2".into()).unwrap(), Some(2));
        assert_eq!(v.get().unwrap(), 2.718_5);
    }
}

fn report((q, n): (QueueProxy<(u32, u32)>, u32)) -> u32 {
    q.put(&(n, std::process::id())).unwrap();
    n * 2
}

/// Seed 002: `Manager().Queue()` shared by pool workers through their tasks'
/// arguments (a plain `multiprocessing.Queue` cannot be passed this way in Python).
#[test]
fn pool_workers_share_a_manager_queue() {
    let manager = Manager::with_start_method(StartMethod::Forkserver).unwrap();
    let q = manager.queue::<(u32, u32)>(0).unwrap();
    let pool = Pool::builder()
        .processes(3)
        .start_method(StartMethod::Spawn)
        .build()
        .unwrap();
    let doubled = pool
        .map_chunked(report, (0..12).map(|n| (q.clone(), n)), 1)
        .unwrap();
    assert_eq!(doubled, (0..12).map(|n| n * 2).collect::<Vec<_>>());
    let mut seen: Vec<u32> = (0..12)
        .map(|_| q.get_timeout(PATIENCE).unwrap().0)
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..12).collect::<Vec<_>>());
    assert_eq!(q.get_nowait(), Err(ProcessError::Empty));
}

fn add_under_lock((lock, counter, times): (LockProxy, ValueProxy<u64>, u32)) {
    for _ in 0..times {
        let _held = lock.lock().unwrap();
        let v = counter.get().unwrap();
        counter.set(&(v + 1)).unwrap();
    }
}

/// A read-modify-write under a manager lock stays exact across processes.
#[test]
fn a_manager_lock_serialises_processes() {
    let manager = Manager::with_start_method(StartMethod::Fork).unwrap();
    let lock = manager.lock().unwrap();
    let counter = manager.value(0u64).unwrap();
    let kids: Vec<_> = (0..4)
        .map(|_| {
            let p = Process::new(add_under_lock, (lock.clone(), counter.clone(), 50))
                .start_method(StartMethod::Fork);
            p.start().unwrap();
            p
        })
        .collect();
    for k in &kids {
        k.join().unwrap();
    }
    assert_eq!(counter.get().unwrap(), 200);
}

fn hold_and_die(lock: LockProxy) {
    lock.acquire().unwrap();
    // SAFETY: ends this child at once, holding the lock.
    unsafe { libc::_exit(9) };
}

/// A lock whose holder dies is released (Python's manager keeps it locked forever);
/// an `RLock` belongs to its thread.
#[test]
fn locks_of_dead_holders_are_released_and_rlocks_have_owners() {
    let manager = Manager::with_start_method(StartMethod::Fork).unwrap();
    let lock = manager.lock().unwrap();
    let p = Process::new(hold_and_die, lock.clone()).start_method(StartMethod::Fork);
    p.start().unwrap();
    assert!(p.join().is_err());
    assert!(
        lock.acquire_timeout(PATIENCE).unwrap(),
        "the dead holder's lock was released"
    );
    lock.release().unwrap();
    assert!(
        matches!(lock.release(), Err(ProcessError::InvalidArgument(m)) if m.contains("unlocked"))
    );

    let rlock = manager.rlock().unwrap();
    rlock.acquire().unwrap();
    rlock.acquire().unwrap();
    let other = rlock.clone();
    let from_another_thread =
        std::thread::spawn(move || (other.try_acquire().unwrap(), other.release().is_err()))
            .join()
            .unwrap();
    assert_eq!(from_another_thread, (false, true));
    rlock.release().unwrap();
    rlock.release().unwrap();
    assert!(!rlock.locked().unwrap());

    let s = manager.semaphore(2).unwrap();
    assert!(s.try_acquire().unwrap() && s.try_acquire().unwrap());
    assert!(!s.try_acquire().unwrap());
    s.release().unwrap();
    s.release().unwrap();
    s.release().unwrap(); // unbounded
    assert_eq!(s.value().unwrap(), 3);
}

/// `_TestManagerRestart` in spirit: a manager that is shut down or killed turns every
/// proxy call into a clear error at once, never a hang, blocked calls included.
#[test]
fn a_dead_manager_fails_every_call() {
    let manager = Manager::with_start_method(StartMethod::Fork).unwrap();
    let d = manager.dict::<u8, u8>().unwrap();
    let q = manager.queue::<u8>(0).unwrap();
    d.insert(&1, &1).unwrap();
    let blocked = std::thread::spawn(move || q.get());
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: killing the manager's server, a child of this test.
    unsafe { libc::kill(manager.pid().unwrap() as i32, libc::SIGKILL) };
    let started = Instant::now();
    assert_eq!(
        blocked.join().unwrap(),
        Err(ProcessError::Closed("the manager"))
    );
    assert_eq!(d.get(&1), Err(ProcessError::Closed("the manager")));
    assert_eq!(
        d.get(&1),
        Err(ProcessError::Closed("the manager")),
        "and again"
    );
    assert!(started.elapsed() < PATIENCE);
    manager.shutdown().unwrap();

    let manager = Manager::with_start_method(StartMethod::Fork).unwrap();
    let e = manager.event().unwrap();
    manager.shutdown().unwrap();
    manager.shutdown().unwrap();
    assert_eq!(e.is_set(), Err(ProcessError::Closed("the manager")));
}

#[test]
fn queues_block_time_out_and_join() {
    let manager = Manager::with_start_method(StartMethod::Fork).unwrap();
    let q = manager.joinable_queue::<u32>(2).unwrap();
    q.put(&1).unwrap();
    q.put_nowait(&2).unwrap();
    assert_eq!(q.put_nowait(&3), Err(ProcessError::Full));
    assert_eq!(q.qsize().unwrap(), 2);
    let consumer = {
        let q = q.clone();
        std::thread::spawn(move || {
            for _ in 0..2 {
                q.get().unwrap();
                q.task_done().unwrap();
            }
        })
    };
    q.join().unwrap();
    consumer.join().unwrap();
    assert!(q.empty().unwrap());
    assert!(matches!(
        q.task_done(),
        Err(ProcessError::InvalidArgument(_))
    ));
    assert_eq!(
        q.get_timeout(Duration::from_millis(20)),
        Err(ProcessError::Empty)
    );
    let e = manager.event().unwrap();
    let waiter = {
        let e = e.clone();
        std::thread::spawn(move || e.wait(Some(PATIENCE)).unwrap())
    };
    std::thread::sleep(Duration::from_millis(50));
    e.set().unwrap();
    assert!(waiter.join().unwrap());
}

fn remote_worker((address, key): (conc_process::connection::Address, Vec<u8>)) -> u32 {
    let manager = Manager::connect(&address, &key).unwrap();
    let jobs = manager.lookup::<QueueProxy<u32>>("jobs").unwrap();
    let results = manager.lookup::<DictProxy<u32, u32>>("results").unwrap();
    let mut done = 0;
    while let Ok(job) = jobs.get_timeout(Duration::from_millis(200)) {
        results.insert(&job, &(job * job)).unwrap();
        done += 1;
    }
    done
}

/// `_TestRemoteManager`: a manager on 127.0.0.1 with a key; another program (here a
/// spawned process that gets only the address and the key) connects and finds the
/// objects by name.
#[test]
fn a_remote_program_connects_with_the_key() {
    let key = b"remote secret".to_vec();
    let manager = Manager::builder()
        .address("127.0.0.1:0".parse().unwrap())
        .authkey(&key)
        .start_method(StartMethod::Forkserver)
        .start()
        .unwrap();
    let jobs = manager.queue::<u32>(0).unwrap();
    let results = manager.dict::<u32, u32>().unwrap();
    manager.publish("jobs", &jobs).unwrap();
    manager.publish("results", &results).unwrap();
    for job in 0..20 {
        jobs.put(&job).unwrap();
    }
    let worker = Process::new(remote_worker, (manager.address().clone(), key.clone()))
        .start_method(StartMethod::Spawn);
    worker.start().unwrap();
    assert_eq!(worker.result().unwrap(), 20);
    assert_eq!(results.len().unwrap(), 20);
    assert_eq!(results.get(&7).unwrap(), Some(49));

    assert!(matches!(
        Manager::connect(manager.address(), b"wrong"),
        Err(ProcessError::AuthenticationError(_))
    ));
    let remote = Manager::connect(manager.address(), &key).unwrap();
    assert!(matches!(
        remote.lookup::<ListProxy<u32>>("jobs"),
        Err(ProcessError::InvalidArgument(m)) if m.contains("is a queue")
    ));
    assert!(matches!(
        remote.lookup::<QueueProxy<u32>>("nothing"),
        Err(ProcessError::InvalidArgument(m)) if m.contains("nothing is published")
    ));
    assert!(matches!(
        remote.shutdown(),
        Err(ProcessError::InvalidState(_))
    ));
    drop(remote);
    assert_eq!(
        results.len().unwrap(),
        20,
        "dropping a connected handle leaves the server"
    );
    let address = manager.address().clone();
    manager.shutdown().unwrap();
    assert!(matches!(
        Manager::connect(&address, &key),
        Err(ProcessError::Closed(_))
    ));
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Ledger {
    entries: Vec<(String, i64)>,
}

#[derive(serde::Serialize, serde::Deserialize)]
enum LedgerCall {
    Add(String, i64),
    Balance,
    Explode,
}

impl conc_process::Served for Ledger {
    type Call = LedgerCall;
    type Reply = i64;

    fn call(&mut self, call: LedgerCall) -> i64 {
        match call {
            LedgerCall::Add(who, amount) => self.entries.push((who, amount)),
            LedgerCall::Balance => {}
            LedgerCall::Explode => panic!("the ledger caught fire"),
        }
        self.entries.iter().map(|e| e.1).sum()
    }
}

fn add_entries(ledger: conc_process::ServedProxy<Ledger>) {
    for i in 0..10 {
        ledger
            .call(&LedgerCall::Add(format!("child {i}"), i))
            .unwrap();
    }
}

/// Python's `BaseManager.register`: a user's own type served by the manager, typed on
/// both ends, called from children of other start methods.
#[test]
fn a_users_type_is_served() {
    for server in [
        StartMethod::Spawn,
        StartMethod::Forkserver,
        StartMethod::Fork,
    ] {
        let manager = Manager::with_start_method(server).unwrap();
        let ledger = manager
            .serve(Ledger {
                entries: vec![("opening".into(), 100)],
            })
            .unwrap();
        let kids: Vec<_> = [StartMethod::Spawn, StartMethod::Fork]
            .into_iter()
            .map(|m| {
                let p = Process::new(add_entries, ledger.clone()).start_method(m);
                p.start().unwrap();
                p
            })
            .collect();
        for k in &kids {
            k.join().unwrap();
        }
        assert_eq!(ledger.call(&LedgerCall::Balance).unwrap(), 100 + 2 * 45);
        match ledger.call(&LedgerCall::Explode) {
            Err(ProcessError::Panicked { message, .. }) => {
                assert_eq!(message, "the ledger caught fire")
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            ledger.call(&LedgerCall::Balance).unwrap(),
            190,
            "still served after a panic"
        );
        manager.publish("ledger", &ledger).unwrap();
        let remote = Manager::connect(manager.address(), b"wrong key");
        assert!(remote.is_err());
    }
    let manager = Manager::builder()
        .address("127.0.0.1:0".parse().unwrap())
        .authkey(b"k")
        .start_method(StartMethod::Fork)
        .start()
        .unwrap();
    let remote = Manager::connect(manager.address(), b"k").unwrap();
    assert!(matches!(
        remote.serve(Ledger {
            entries: Vec::new()
        }),
        Err(ProcessError::InvalidState(_))
    ));
    let ledger = manager
        .serve(Ledger {
            entries: Vec::new(),
        })
        .unwrap();
    manager.publish("ledger", &ledger).unwrap();
    let found = remote
        .lookup::<conc_process::ServedProxy<Ledger>>("ledger")
        .unwrap();
    assert_eq!(found.call(&LedgerCall::Add("remote".into(), 5)).unwrap(), 5);
}

fn wait_at_barrier((barrier, log): (conc_process::BarrierProxy, ListProxy<u32>)) -> usize {
    log.append(&1).unwrap();
    let index = barrier.wait(Some(PATIENCE)).unwrap();
    // Nobody passes before all three arrived.
    assert!(log.len().unwrap() >= 3);
    index
}

fn consume((cond, items): (conc_process::ConditionProxy, ListProxy<u32>)) -> u32 {
    cond.acquire().unwrap();
    while items.is_empty().unwrap() {
        assert!(cond.wait(Some(PATIENCE)).unwrap(), "notified");
    }
    let item = items.pop_at(0).unwrap();
    cond.release().unwrap();
    item
}

/// `Condition`, `Barrier` and `Array` from the manager, across processes.
#[test]
fn conditions_barriers_and_arrays_work_across_processes() {
    let manager = Manager::with_start_method(StartMethod::Fork).unwrap();
    let barrier = manager.barrier(3).unwrap();
    let log = manager.list(Vec::<u32>::new()).unwrap();
    let kids: Vec<_> = (0..3)
        .map(|_| {
            let p = Process::new(wait_at_barrier, (barrier.clone(), log.clone()))
                .start_method(StartMethod::Fork);
            p.start().unwrap();
            p
        })
        .collect();
    let mut indices: Vec<usize> = kids.iter().map(|k| k.result().unwrap()).collect();
    indices.sort_unstable();
    assert_eq!(indices, [0, 1, 2]);
    assert_eq!(
        (barrier.parties().unwrap(), barrier.n_waiting().unwrap()),
        (3, 0)
    );

    // A waiter's timeout breaks it; reset mends it; abort breaks it again.
    assert_eq!(
        barrier.wait(Some(Duration::from_millis(20))),
        Err(ProcessError::BrokenBarrier)
    );
    assert!(barrier.broken().unwrap());
    assert_eq!(barrier.wait(None), Err(ProcessError::BrokenBarrier));
    barrier.reset().unwrap();
    assert!(!barrier.broken().unwrap());
    let other = barrier.clone();
    let waiting = std::thread::spawn(move || other.wait(Some(PATIENCE)));
    while barrier.n_waiting().unwrap() == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    barrier.reset().unwrap();
    assert_eq!(
        waiting.join().unwrap(),
        Err(ProcessError::BrokenBarrier),
        "reset breaks the round"
    );
    barrier.abort().unwrap();
    assert_eq!(barrier.wait(None), Err(ProcessError::BrokenBarrier));
    assert!(manager.barrier(0).is_err());

    let cond = manager.condition().unwrap();
    let items = manager.list(Vec::<u32>::new()).unwrap();
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let p = Process::new(consume, (cond.clone(), items.clone()))
                .start_method(StartMethod::Fork);
            p.start().unwrap();
            p
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    for item in [10, 20] {
        cond.acquire().unwrap();
        items.append(&item).unwrap();
        cond.notify(1).unwrap();
        cond.release().unwrap();
    }
    let mut got: Vec<u32> = consumers.iter().map(|c| c.result().unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, [10, 20]);
    assert!(
        matches!(cond.wait(None), Err(ProcessError::InvalidArgument(m)) if m.contains("un-acquired"))
    );
    assert!(matches!(
        cond.notify_all(),
        Err(ProcessError::InvalidArgument(_))
    ));
    cond.acquire().unwrap();
    assert!(
        !cond.wait(Some(Duration::from_millis(10))).unwrap(),
        "nobody notifies"
    );
    cond.release().unwrap();

    let a = manager.array(vec![0i32; 4]).unwrap();
    a.set(1, &5).unwrap();
    a.set(-1, &7).unwrap();
    assert_eq!(a.to_vec().unwrap(), [0, 5, 0, 7]);
    assert!(matches!(a.get(4), Err(ProcessError::InvalidArgument(_))));
}

fn take_one(q: QueueProxy<u32>) -> u32 {
    q.get().unwrap()
}

/// A consumer killed while it waits in `get` does not swallow the next item: the
/// server gives it back to the queue (Python's manager loses it).
#[test]
fn an_item_taken_by_a_dead_consumer_is_given_back() {
    let manager = Manager::with_start_method(StartMethod::Fork).unwrap();
    let q = manager.queue::<u32>(0).unwrap();
    let consumer = Process::new(take_one, q.clone()).start_method(StartMethod::Fork);
    consumer.start().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    consumer.kill().unwrap();
    assert!(consumer.join().is_err());
    q.put(&42).unwrap();
    assert_eq!(q.get_timeout(PATIENCE), Ok(42));
}
