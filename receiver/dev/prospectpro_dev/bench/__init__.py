"""The benchmark suite (make bench, issue 7): python -m prospectpro_dev.bench.

    python -m prospectpro_dev.bench                        all, about 10 minutes on 2 cores
    python -m prospectpro_dev.bench --only delivery,latency
    python -m prospectpro_dev.bench --quick                short runs: a smoke test
    python -m prospectpro_dev.bench --profile              also pg_stat_statements and wait events

It starts its own throwaway cluster with common.PRODUCTION_SETTINGS, runs each
benchmark (one module each: sink, write, sustained, bulk, delivery, nginx,
latency, costs, receiver; each has run(bench) -> [Result]), prints one table
and writes it as JSON to .bench/. Figures are medians of repetitions, and ratios between runs of
the same invocation; alongside, CPU per process group and WAL per item say
where the time goes.
"""
