from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tokens", "0002_database_store"),
    ]

    operations = [
        migrations.CreateModel(
            name="ServiceClient",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.SlugField(max_length=100, unique=True, verbose_name="client id")),
                (
                    "secret_hash",
                    models.CharField(editable=False, max_length=128, verbose_name="secret hash"),
                ),
                ("is_active", models.BooleanField(default=True, verbose_name="active")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created")),
            ],
            options={
                "verbose_name": "service client",
                "verbose_name_plural": "service clients",
                "ordering": ("name",),
            },
        ),
    ]
