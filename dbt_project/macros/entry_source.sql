{#-
  Where a visit came from, from the first event's utm_source and referrer:
    campaign  utm_source is set (paid, e-mail, partner campaigns)
    search    a search engine referred (google, bing, duckduckgo, yahoo, baidu, yandex, ecosia)
    social    a social network referred (facebook, instagram, linkedin, twitter/x, t.co, reddit,
              youtube, tiktok, pinterest)
    direct    no referrer
    referral  any other referrer
-#}
{% macro entry_source(referrer, utm_source) -%}
  case
    when nullif(trim({{ utm_source }}), '') is not null then 'campaign'
    when nullif(trim({{ referrer }}), '') is null then 'direct'
    when {{ regexp_matches(lower_text(referrer), "'(^|[/.])(google|bing|duckduckgo|yahoo|baidu|yandex|ecosia)\\.'") }} then 'search'
    when {{ regexp_matches(lower_text(referrer), "'(^|[/.])(facebook|instagram|linkedin|twitter|x|t|reddit|youtube|tiktok|pinterest)\\.(com|co)'") }} then 'social'
    else 'referral'
  end
{%- endmacro %}
