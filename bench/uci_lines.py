"""The UCI order lines as the warehouse keeps them, for the benchmarks that read the
importer's output directly (recs_uci.py, forecast_uci.py): typed, exact duplicate lines
of a day dropped (first copy kept), only lines with a quantity and a positive price.

``VALID_LINES`` is a chain of CTEs ending in ``valid``, over the importer's
``out_order_items`` table: use it as ``WITH {VALID_LINES}, ...``.
"""

VALID_LINES = """
    typed AS (
        SELECT i.day, i.sort_key, i.order_id, i.product_id,
               try_cast(i.quantity AS DOUBLE) AS quantity,
               try_cast(i.unit_price AS DOUBLE) AS unit_price
        FROM out_order_items AS i
    ), deduped AS (
        SELECT *, row_number() OVER (PARTITION BY day, order_id, product_id, quantity, unit_price
                                     ORDER BY sort_key) AS copy_number
        FROM typed
    ), valid AS (
        SELECT * FROM deduped
        WHERE quantity IS NOT NULL AND unit_price > 0 AND quantity <> 0 AND copy_number = 1
    )"""
