process.env.BENCH_SCALE_SIZES='2000';
