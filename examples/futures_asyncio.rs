//! asyncio with executors, on tokio: coroutines sleeping together on one thread,
//! blocking work sent to a thread pool with `run_in_executor`, `gather`, `asyncio.wait`
//! over pool futures, and a crawler limited by `Semaphore(10)`.
//!
//! Ports seed 000 ("Process、Thread、Coroutine in Python"): (1) coroutines `foo` and
//! `bar` each `await asyncio.sleep(1)` and both finish in 1 s on the main thread;
//! (2) with `_executor = ThreadPoolExecutor(2)` they `await
//! loop.run_in_executor(_executor, my_func, array, "foo")`: the coroutines stay on the
//! main thread, `my_func` runs on `ThreadPoolExecutor-0_0`/`_1`, and the shared list
//! ends as `['bar', 'foo']`; (3) ten coroutines `foo(my_list, i)`, each creating its own
//! `ThreadPoolExecutor(1)`, fill the list in completion order (`[2, 6, 0, 7, ...]`);
//! (4) `completed, pending = await asyncio.wait(tasks)` over ten `run_in_executor` calls
//! on a `ProcessPoolExecutor` (4 CPUs, so 3 rounds: "运行时间是 3.02"; the list stays
//! empty because processes share nothing). And seed 003 ("协程"/"异步IO"): tasks from
//! `asyncio.create_task(func())` start only when `main` awaits ("main函数结束" is printed
//! before `1 1 2 2`); `await asyncio.gather(*tasks)`; `asyncio.wait` vs `gather` (done
//! and pending sets vs results); and the aiohttp crawler of the blog's 49 pages whose
//! concurrency `sem = asyncio.Semaphore(10)` limits with `async with sem:`.
//!
//! What it shows: a single-threaded tokio runtime as the asyncio event loop; blocking
//! calls offloaded with `conc_futures::run_in_executor` while the loop stays free; pool
//! futures awaited directly (`.await`) and with `conc_futures::gather` (input order);
//! `asyncio.wait(fs, timeout)` rebuilt from `add_done_callback` and a channel, giving
//! done and pending sets without taking the values; at most 10 requests in flight under
//! `tokio::sync::Semaphore::new(10)`.
//!
//! How Rust differs:
//! - `asyncio.run(main())` is `#[tokio::main(flavor = "current_thread")]`: one thread,
//!   like asyncio's loop. `asyncio.sleep` is `tokio::time::sleep`, `create_task` is
//!   `tokio::spawn`, `asyncio.Semaphore` is `tokio::sync::Semaphore`.
//! - A `conc_futures::Future` can be `.await`ed in any runtime; the pool's worker wakes
//!   the task. `.await` moves the value out, so the `asyncio.wait` port waits with a
//!   done-callback instead and reads the values with `result()` afterwards.
//! - In (3) each coroutine drops its own pool at the end, which is
//!   `shutdown(wait=True)`: it joins the (idle) worker, blocking the loop for a moment.
//!   Sharing one pool, as in (2), is the better pattern; Python's per-call pools are
//!   never shut down at all.
//! - In (4) the pool holds threads, not processes (the process pool comes with
//!   `conc-process`): same 3 rounds on 4 workers, but the list is shared and fills up.
//! - Seed 000's printed programs lost their `loop.run_until_complete(...)` lines; the
//!   ports run what the printed output shows. The seed says it cannot explain why the
//!   list is shared in (2): `my_func` runs on a pool thread of the same process, and
//!   threads share memory. Here the list is an `Arc<Mutex<Vec<_>>>`.
//! - No internet: the crawler fetches from `examples::PageServer` on 127.0.0.1 with the
//!   blocking `http_get`, sent to the pool with `run_in_executor` (aiohttp's part).
//! - Seconds are scaled to 100 ms.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conc_futures::{
    Executor, Future, ReturnWhen, ThreadPoolExecutor, gather, run_in_executor, wait_async,
};
use conc_thread::current_thread;
use examples::{PageServer, http_get, parse_titles};
use tokio::sync::Semaphore;

/// One "second" of the seeds.
const UNIT: Duration = Duration::from_millis(100);

const PAGES: usize = 49;
const POSTS_PER_PAGE: usize = 10;
const LATENCY: Duration = Duration::from_millis(20);

#[tokio::main(flavor = "current_thread")]
async fn main() {
    coroutines_sleep_together().await;
    run_in_executor_shared_list().await;
    ten_coroutines_own_pools().await;
    asyncio_wait_over_pool_futures().await;
    tasks_and_gather().await;
    semaphore_crawler().await;
}

/// Seed 000's `foo` / `bar`: print the thread, `await asyncio.sleep(1)`.
async fn sleeper(name: &str, start: Instant) -> String {
    let thread = current_thread();
    println!(
        "{} {name} start, {name} thread is {thread}",
        examples::stamp(start)
    );
    tokio::time::sleep(UNIT).await;
    println!("{} {name} finish", examples::stamp(start));
    thread.name().to_owned()
}

async fn coroutines_sleep_together() {
    examples::heading("Seed 000 (1): two coroutines sleep 1 unit each, on one thread");
    let start = Instant::now();
    println!(
        "{} main thread is {}",
        examples::stamp(start),
        current_thread()
    );
    let (foo_thread, bar_thread) = tokio::join!(sleeper("foo", start), sleeper("bar", start));
    let elapsed = start.elapsed();
    println!(
        "{} 运行时间是: {} (one after the other would be 2 units)",
        examples::stamp(start),
        examples::ms(elapsed)
    );
    assert_eq!(
        foo_thread, "MainThread",
        "coroutines run on the loop's thread"
    );
    assert_eq!(bar_thread, "MainThread");
    assert!(elapsed >= UNIT);
}

/// Seed 000's `my_func(array, item)`: blocking work (a 1-unit sleep) that appends `item`
/// and reports its thread.
fn my_func<T: Send>(array: &Mutex<Vec<T>>, item: T, start: Instant) -> String {
    let thread = current_thread();
    println!("{} my_func thread is {thread}", examples::stamp(start));
    std::thread::sleep(UNIT);
    array.lock().expect("no task panics").push(item);
    thread.name().to_owned()
}

/// Seed 000's `foo(array)` / `bar(array)` of the second program.
async fn offloading(
    name: &'static str,
    executor: &ThreadPoolExecutor,
    array: Arc<Mutex<Vec<&'static str>>>,
    start: Instant,
) -> (String, String) {
    let thread = current_thread();
    println!(
        "{} {name} start, {name} thread is {thread}",
        examples::stamp(start)
    );
    let worker = run_in_executor(executor, move || my_func(&array, name, start))
        .await
        .expect("my_func does not panic");
    println!("{} {name} finish", examples::stamp(start));
    (thread.name().to_owned(), worker)
}

async fn run_in_executor_shared_list() {
    examples::heading(
        "Seed 000 (2): coroutines await run_in_executor(ThreadPoolExecutor(2), my_func)",
    );
    let start = Instant::now();
    let executor = examples::pool(2);
    let my_list = Arc::new(Mutex::new(Vec::new()));
    println!(
        "{} main thread is {}",
        examples::stamp(start),
        current_thread()
    );
    println!(
        "{} init list is {:?}",
        examples::stamp(start),
        my_list.lock().expect("no panic")
    );
    let (foo_threads, bar_threads) = tokio::join!(
        offloading("foo", &executor, my_list.clone(), start),
        offloading("bar", &executor, my_list.clone(), start)
    );
    let elapsed = start.elapsed();
    let list = my_list.lock().expect("no task panics").clone();
    println!("{} finally list is {list:?}", examples::stamp(start));
    println!(
        "{} 运行时间是: {}",
        examples::stamp(start),
        examples::ms(elapsed)
    );

    let mut sorted = list.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        ["bar", "foo"],
        "both pool calls appended to the shared list"
    );
    assert_eq!(
        (foo_threads.0.as_str(), bar_threads.0.as_str()),
        ("MainThread", "MainThread")
    );
    assert!(
        foo_threads.1 != "MainThread" && bar_threads.1 != "MainThread",
        "my_func ran on the pool"
    );
    assert!(elapsed >= UNIT);
}

/// Seed 000's third program: `foo(array, item)` with its own `ThreadPoolExecutor(1)`.
async fn foo_own_pool(array: Arc<Mutex<Vec<usize>>>, item: usize, start: Instant) -> String {
    let executor = examples::pool(1);
    let worker = run_in_executor(&executor, move || my_func(&array, item, start))
        .await
        .expect("my_func does not panic");
    // shutdown(wait=True): joins the now idle worker, blocking the loop for a moment.
    drop(executor);
    worker
}

async fn ten_coroutines_own_pools() {
    examples::heading(
        "Seed 000 (3): ten coroutines foo(my_list, i), each with its own ThreadPoolExecutor(1)",
    );
    let start = Instant::now();
    let my_list = Arc::new(Mutex::new(Vec::new()));
    // `tasks = [foo(my_list, i) for i in range(10)]`, run together: spawned on the
    // loop (one thread), awaited in order.
    let tasks: Vec<_> = (0..10)
        .map(|i| tokio::spawn(foo_own_pool(my_list.clone(), i, start)))
        .collect();
    let mut workers = Vec::new();
    for task in tasks {
        workers.push(task.await.expect("the coroutine does not panic"));
    }
    let elapsed = start.elapsed();
    let list = my_list.lock().expect("no task panics").clone();
    println!("{} finally list is {list:?}", examples::stamp(start));
    println!(
        "{} 运行时间是: {}",
        examples::stamp(start),
        examples::ms(elapsed)
    );

    let mut sorted = list.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..10).collect::<Vec<_>>());
    workers.sort_unstable();
    workers.dedup();
    assert_eq!(workers.len(), 10, "ten pools, ten different worker threads");
    assert!(elapsed >= UNIT);
}

/// `done, pending = await asyncio.wait(fs, timeout=timeout)` for pool futures, with
/// `conc_futures::wait_async` (which takes no value out of the futures) under tokio's
/// timer; if the timer fires, the futures themselves say which are done.
async fn asyncio_wait<T>(
    fs: &[Future<T>],
    timeout: Option<Duration>,
) -> (Vec<Future<T>>, Vec<Future<T>>) {
    let all = wait_async(fs, ReturnWhen::AllCompleted);
    let outcome = match timeout {
        Some(t) => tokio::time::timeout(t, all).await.ok(),
        None => Some(all.await),
    };
    match outcome {
        Some(r) => (r.done, r.not_done),
        None => fs.iter().cloned().partition(Future::done),
    }
}

async fn asyncio_wait_over_pool_futures() {
    examples::heading(
        "Seed 000 (4): completed, pending = await asyncio.wait(tasks) over 10 pool calls on 4 workers",
    );
    let start = Instant::now();
    // The seed's `ProcessPoolExecutor()` on a 4-CPU machine, here 4 threads.
    let executor = examples::pool(4);
    let my_list = Arc::new(Mutex::new(Vec::new()));
    println!(
        "{} foo start, foo thread is {}",
        examples::stamp(start),
        current_thread()
    );
    let tasks: Vec<Future<usize>> = (0..10)
        .map(|item| {
            let array = my_list.clone();
            executor
                .submit(move || {
                    my_func(&array, item, start);
                    item
                })
                .expect("the pool is open")
        })
        .collect();

    // asyncio.wait(tasks, timeout=1.5): only the first round can be done.
    let (done, pending) = asyncio_wait(&tasks, Some(UNIT * 3 / 2)).await;
    let observed = start.elapsed();
    println!(
        "{} asyncio.wait(tasks, timeout=1.5): {} done, {} pending",
        examples::stamp(start),
        done.len(),
        pending.len()
    );
    if observed < 2 * UNIT {
        // The second round cannot have finished: 4 workers, 1 unit per task.
        assert!(done.len() <= 4, "{} done after {observed:?}", done.len());
    }
    if observed < 3 * UNIT {
        assert!(
            !pending.is_empty(),
            "ten 1-unit tasks on 4 workers need 3 units"
        );
    }

    // asyncio.wait(tasks): everything.
    let (completed, pending) = asyncio_wait(&tasks, None).await;
    let elapsed = start.elapsed();
    let results: Vec<usize> = completed
        .iter()
        .map(|t| t.result().expect("my_func does not panic"))
        .collect();
    println!("{} results: {results:?}", examples::stamp(start));
    println!("{} foo finish", examples::stamp(start));
    let list = my_list.lock().expect("no task panics").clone();
    println!("{} finally my list is {list:?}", examples::stamp(start));
    println!(
        "{} 运行时间是: {} (3 rounds of 1 unit on 4 workers)",
        examples::stamp(start),
        examples::ms(elapsed)
    );

    assert!(pending.is_empty());
    let mut sorted = results.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..10).collect::<Vec<_>>());
    assert_eq!(
        list.len(),
        10,
        "threads share the list (a process pool's would stay empty)"
    );
    assert!(
        elapsed >= 3 * UNIT,
        "10 tasks of 1 unit on 4 workers take 3 rounds"
    );
}

async fn tasks_and_gather() {
    examples::heading(
        "Seed 003: create_task starts nothing until main awaits; gather keeps input order",
    );
    let log = Arc::new(Mutex::new(Vec::new()));
    let say = {
        let log = log.clone();
        move |what: &str| {
            println!("{what}");
            log.lock().expect("no panic").push(what.to_owned());
        }
    };
    // Seed 003's `func`: print(1), sleep 2, print(2), return '返回值'.
    let func = {
        let say = say.clone();
        move || {
            let say = say.clone();
            async move {
                say("1");
                tokio::time::sleep(UNIT).await;
                say("2");
                "返回值"
            }
        }
    };
    say("main函数开始 (main starts)");
    let task1 = tokio::spawn(func());
    let task2 = tokio::spawn(func());
    say("main函数结束 (main's body is done; the tasks have not run yet)");
    let res1 = task1.await.expect("the task does not panic");
    let res2 = task2.await.expect("the task does not panic");
    println!("{res1} {res2}");
    assert_eq!(
        *log.lock().expect("no panic"),
        [
            "main函数开始 (main starts)",
            "main函数结束 (main's body is done; the tasks have not run yet)",
            "1",
            "1",
            "2",
            "2"
        ],
        "on one thread, spawned tasks run only once main awaits"
    );

    // `await asyncio.gather(*tasks)` over coroutines: spawn them all, await in order.
    let start = Instant::now();
    let tasks: Vec<_> = [3_u32, 1, 2]
        .into_iter()
        .map(|n| {
            tokio::spawn(async move {
                tokio::time::sleep(n * UNIT / 2).await;
                n * 10
            })
        })
        .collect();
    let mut gathered = Vec::new();
    for task in tasks {
        gathered.push(task.await.expect("the task does not panic"));
    }
    println!(
        "{} gather(sleep 3, 1, 2 half-units) = {gathered:?}, in input order",
        examples::stamp(start)
    );
    assert_eq!(gathered, [30, 10, 20]);

    // `conc_futures::gather` over pool futures: same order guarantee.
    let server = PageServer::start(5, 3, Duration::ZERO).expect("bind 127.0.0.1:0");
    let pool = examples::pool(5);
    let futures: Vec<Future<usize>> = server
        .urls()
        .into_iter()
        .map(|url| {
            pool.submit(move || parse_titles(&http_get(&url).expect("the page exists")).len())
                .expect("the pool is open")
        })
        .collect();
    let counts: Vec<usize> = gather(futures)
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("every fetch succeeds");
    println!("conc_futures::gather(5 page fetches on the pool) = {counts:?} posts per page");
    assert_eq!(counts, [3; 5]);
}

async fn semaphore_crawler() {
    examples::heading("Seed 003: async crawler, 49 pages, sem = asyncio.Semaphore(10)");
    let server = PageServer::start(PAGES, POSTS_PER_PAGE, LATENCY).expect("bind 127.0.0.1:0");
    println!(
        "serving {PAGES} pages on {} ({} of latency each)",
        server.base_url(),
        examples::ms(LATENCY)
    );
    // The pool is bigger than the limit, so the semaphore is what limits.
    let pool = Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(16)
            .thread_name_prefix("http")
            .build()
            .expect("16 workers is a valid size"),
    );
    let sem = Arc::new(Semaphore::new(10));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();

    // `tasks = [loop.create_task(async_craw(url)) for url in urls]`
    let tasks: Vec<_> = server
        .urls()
        .into_iter()
        .enumerate()
        .map(|(i, url)| {
            let (pool, sem) = (pool.clone(), sem.clone());
            let (in_flight, max_in_flight) = (in_flight.clone(), max_in_flight.clone());
            tokio::spawn(async move {
                if i < 3 {
                    println!("{} 开始爬取 (start): {url}", examples::stamp(start));
                }
                // `async with sem:`
                let _permit = sem.acquire().await.expect("the semaphore is never closed");
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                max_in_flight.fetch_max(now, Ordering::SeqCst);
                let fetch = url.clone();
                let html = run_in_executor(&*pool, move || http_get(&fetch))
                    .await
                    .expect("http_get does not panic")
                    .expect("the page exists");
                in_flight.fetch_sub(1, Ordering::SeqCst);
                if i < 3 {
                    println!(
                        "{} 爬取结束 (done): {url} {}",
                        examples::stamp(start),
                        html.len()
                    );
                }
                parse_titles(&html).len()
            })
        })
        .collect();
    // `loop.run_until_complete(asyncio.wait(tasks))`
    let mut posts = 0;
    for task in tasks {
        posts += task.await.expect("the crawl task does not panic");
    }
    let elapsed = start.elapsed();
    let max = max_in_flight.load(Ordering::SeqCst);
    println!("... (the other 46 pages alike)");
    println!(
        "耗时 (took): {} for {PAGES} pages, {posts} posts; at most {max} requests in flight",
        examples::ms(elapsed)
    );

    assert!(max <= 10, "the semaphore lets at most 10 in, saw {max}");
    assert!(max >= 1);
    assert_eq!(sem.available_permits(), 10, "every permit came back");
    assert_eq!(posts, PAGES * POSTS_PER_PAGE);
    assert_eq!(server.requests_served(), PAGES);
    // 49 pages, 10 at a time, at least 20 ms each: at least 5 rounds.
    assert!(elapsed >= 5 * LATENCY);
}
