from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def ops_services(services, tmp_path: Path):
    """Services whose backups go to a fresh directory of this test."""
    services.config.set("ops.backup_dir", str(tmp_path / "backups"))
    services.config.set("ops.batch_pause", 0.0)
    return services


@pytest.fixture
def sample(conn):
    """A few tables with rows, a sequence, an index, a foreign key, a partitioned table."""
    conn.execute(
        """
        CREATE TABLE public.customers (id bigserial PRIMARY KEY, email text NOT NULL,
                                       created_at timestamptz NOT NULL DEFAULT now());
        CREATE TABLE public.orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                    customer_id bigint REFERENCES public.customers(id),
                                    amount numeric NOT NULL, ip inet);
        CREATE INDEX orders_customer_idx ON public.orders (customer_id);
        CREATE TABLE public.events (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts);
        CREATE TABLE public.events_2026 PARTITION OF public.events
            FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
        CREATE INDEX events_ts_idx ON public.events (ts);
        INSERT INTO public.customers (email, created_at)
            SELECT 'user' || g || '@example.com', now() - g * interval '1 day'
            FROM generate_series(1, 300) g;
        INSERT INTO public.orders (customer_id, amount, ip)
            SELECT 1 + g % 300, g * 1.5, ('10.1.' || (g % 250) || '.' || (g % 200))::inet
            FROM generate_series(1, 1000) g;
        INSERT INTO public.events SELECT '2026-03-01'::timestamptz + g * interval '1 min', g
            FROM generate_series(1, 500) g;
        """
    )
    conn.commit()
