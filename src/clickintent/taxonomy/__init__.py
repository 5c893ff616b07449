"""Intent taxonomy: session texts, PII redaction, the LLM client and the taxonomy stage built on them.

Stage (pipeline.py; the CLI `clickintent taxonomy ...` and the demo call these):
    run_taxonomy_stage(settings, options=None, progress=None, evaluate=True) -> StageRun
    generate_taxonomy(settings, options=None) -> GenerateResult      taxonomy/taxonomy.yaml
    map_pages(settings, options=None) -> PageMapResult               taxonomy/page_map.parquet (dbt source)
    label_sessions(settings, options=None) -> LabelResult            taxonomy/teacher_labels.parquet
    distill_classifier(settings, options=None) -> DistillSummary     models/intent_classifier/, taxonomy/session_intents.parquet
    report.write_taxonomy_report(settings) -> dict                   reports/taxonomy.json

Online (classifier.py imports only numpy and safetensors):
    IntentClassifier.load(models_dir).predict_events(events) -> IntentPrediction

Module map: model (the YAML taxonomy), offline (embedding clustering backend), tnt_llm (TnT-LLM
loop), matching (stable ids across versions), page_map, labels (teachers), features + classifier
+ distill (the fast classifier), review, diff, report + evaluation (the only reader of the
ground truth).
"""
