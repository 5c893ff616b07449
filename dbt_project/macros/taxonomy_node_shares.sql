{#-
  Events per top-level taxonomy node summed over several sessions, and what the journey marts
  derive from them. `per_session_counts` is a list of int_sessions.top_node_events lists (one
  per session, all in dim_taxonomy_top_nodes order).
-#}
{% macro node_event_totals(per_session_counts) -%}
  {{ list_transform(
    list_positions(list_len(list_element(per_session_counts, 1))),
    'position',
    list_sum(list_transform(per_session_counts, 'counts', list_element('counts', 'position')))
  ) }}
{%- endmacro %}

{#- Share of each node among the events on any node (all zeros when no event is on a node, as for
    app screens outside the taxonomy), as float[]. -#}
{% macro node_event_shares(totals) -%}
  cast({{ list_transform(totals, 'events', 'coalesce(events / nullif(' ~ list_sum(totals) ~ ', 0), 0.0)') }} as {{ list_type('float') }})
{%- endmacro %}

{#- The node with the most events (ties to the lower position); null when no event is on a node. -#}
{% macro top_node_of(top_node_ids, totals) -%}
  case when {{ list_sum(totals) }} > 0 then {{ list_element(top_node_ids, list_position(totals, list_max(totals))) }} end
{%- endmacro %}
